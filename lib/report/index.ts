/** report.html: plots of the metrics over steps (vega-lite rendered to SVG in Node) and the trajectory viewer. */
export { readRun, renderReport, writeReport, type ReportOptions, type RunData } from './report.js';
export { plotLayout, plotSpec, renderPlots, renderSvg, type PlotSection, type PlotSpec, type RunMetrics } from './plots.js';
export { writeExperimentPlots, writeExperimentPage, experimentSection, experimentSpec, plotFileName, type ExperimentSeries } from './experiment.js';
export { videoTradeoffSpec, writeVideoTradeoff, writeVideoTradeoffPlot, type VideoTradeoff } from './video.js';
