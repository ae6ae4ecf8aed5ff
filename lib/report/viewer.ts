/**
 * The trajectory viewer of report.html: plain JavaScript run by the page (no
 * framework, nothing fetched). It reads the samples embedded in the page as
 * JSON (#samples-data) and shows one trajectory at a time: the question and
 * options, the input image with each crop drawn as a numbered box (and the
 * target dashed), every turn's code, its printed output or error and the
 * images it showed, the answer, the accuracy and the reward. Run, step and
 * sample are chosen with selects, buttons or the arrow keys. All text goes in
 * through textContent (the policy's code is data, never markup).
 */
export const VIEWER_SCRIPT = String.raw`
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6', '#bcf60c'];
  var data = JSON.parse(document.getElementById('samples-data').textContent);
  var root = document.getElementById('viewer');
  var runSelect = document.getElementById('v-run');
  var stepSelect = document.getElementById('v-step');
  var prev = document.getElementById('v-prev');
  var next = document.getElementById('v-next');
  var position = document.getElementById('v-pos');
  var body = document.getElementById('v-sample');
  var state = { run: 0, set: 0, sample: 0 };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs) node.setAttribute(k, String(attrs[k]));
    return node;
  }
  function option(select, value, label) {
    var o = document.createElement('option');
    o.value = String(value);
    o.textContent = label;
    select.appendChild(o);
  }
  function currentSet() {
    var run = data.runs[state.run];
    return run ? run.sets[state.set] : undefined;
  }

  function fillSteps() {
    stepSelect.textContent = '';
    var run = data.runs[state.run];
    (run ? run.sets : []).forEach(function (set, i) {
      option(stepSelect, i, 'step ' + set.step + ' (' + set.samples.length + ')');
    });
    stepSelect.value = String(state.set);
  }

  function imageFigure(image, crops, target, caption, maxSize) {
    var figure = el('figure', 'v-figure');
    var fit = maxSize / Math.max(image.width, image.height);
    var scale = fit >= 1 ? Math.floor(fit) : fit;
    var w = image.width * scale;
    var h = image.height * scale;
    var svg = svgEl('svg', { width: w, height: h, viewBox: '0 0 ' + image.width + ' ' + image.height, 'class': 'v-image' });
    var img = svgEl('image', { x: 0, y: 0, width: image.width, height: image.height, preserveAspectRatio: 'none' });
    img.setAttribute('href', image.src);
    img.style.imageRendering = 'pixelated';
    svg.appendChild(img);
    var stroke = Math.max(0.5, image.width / 256);
    if (target) {
      svg.appendChild(svgEl('rect', { x: target[0], y: target[1], width: target[2] - target[0], height: target[3] - target[1],
        fill: 'none', stroke: '#ffffff', 'stroke-width': stroke, 'stroke-dasharray': (3 * stroke) + ' ' + (2 * stroke), 'class': 'v-target' }));
    }
    (crops || []).forEach(function (crop, k) {
      var b = crop.box;
      var color = COLORS[k % COLORS.length];
      svg.appendChild(svgEl('rect', { x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1], fill: 'none', stroke: color,
        'stroke-width': 1.5 * stroke, 'class': 'v-crop' }));
      var label = svgEl('text', { x: b[0] + stroke, y: b[1] + 8 * stroke, fill: color, 'font-size': 8 * stroke, 'font-family': 'sans-serif' });
      label.textContent = String(k + 1);
      svg.appendChild(label);
    });
    figure.appendChild(svg);
    if (caption) figure.appendChild(el('figcaption', null, caption));
    return figure;
  }

  function render() {
    var set = currentSet();
    body.textContent = '';
    if (!set || set.samples.length === 0) {
      position.textContent = '0 / 0';
      body.appendChild(el('p', 'v-empty', 'No samples in this run folder (samples/ is written at each validation).'));
      prev.disabled = next.disabled = true;
      return;
    }
    var s = set.samples[state.sample];
    position.textContent = (state.sample + 1) + ' / ' + set.samples.length;
    prev.disabled = state.sample === 0;
    next.disabled = state.sample === set.samples.length - 1;

    var left = el('div', 'v-left');
    if (s.image) left.appendChild(imageFigure(s.image, s.crops, s.target,
      'input image ' + s.image.width + ' x ' + s.image.height + (s.crops.length ? ', ' + s.crops.length + ' crop(s) drawn' : '') + (s.target ? ', target dashed' : ''), 384));
    else left.appendChild(el('p', 'v-empty', 'no input image recorded'));
    body.appendChild(left);

    var right = el('div', 'v-right');
    var head = el('div', 'v-head');
    head.appendChild(el('span', 'v-badge ' + (s.acc >= 1 ? 'v-ok' : 'v-bad'), s.acc >= 1 ? 'correct' : 'wrong'));
    head.appendChild(el('span', 'v-meta', s.type + ' · ' + s.taskId + ' · ' + s.endReason + ' · ' + s.toolCalls + ' tool call(s) · reward ' + Number(s.reward).toFixed(3)));
    right.appendChild(head);
    right.appendChild(el('p', 'v-question', s.question));
    if (s.options && s.options.length) right.appendChild(el('p', 'v-options', 'options: ' + s.options.join(' | ')));
    var turns = el('ol', 'v-turns');
    s.turns.forEach(function (turn, t) {
      var li = el('li', 'v-turn v-turn-' + turn.kind);
      if (turn.kind === 'answer') {
        li.appendChild(el('div', 'v-label', 'answer'));
        li.appendChild(el('pre', 'v-answer', turn.text));
      } else {
        li.appendChild(el('div', 'v-label', turn.kind === 'code' ? 'code' : 'invalid action'));
        li.appendChild(el('pre', 'v-code', turn.text));
        if (turn.error) li.appendChild(el('pre', 'v-error', turn.error));
        if (turn.output) li.appendChild(el('pre', 'v-output', turn.output));
        (turn.images || []).forEach(function (k) {
          var image = s.shown[k];
          if (image) li.appendChild(imageFigure(image, [], null, 'image_clue_' + (k + 1) + ' (' + image.width + ' x ' + image.height + ')', 160));
        });
      }
      turns.appendChild(li);
    });
    right.appendChild(turns);
    var verdict = el('p', 'v-verdict');
    verdict.appendChild(el('b', null, 'answer: '));
    verdict.appendChild(document.createTextNode(s.answer === null ? '(none)' : s.answer));
    verdict.appendChild(el('b', null, '  truth: '));
    verdict.appendChild(document.createTextNode(s.truth));
    verdict.appendChild(el('b', null, '  acc: '));
    verdict.appendChild(document.createTextNode(String(s.acc)));
    right.appendChild(verdict);
    body.appendChild(right);
  }

  data.runs.forEach(function (run, i) { option(runSelect, i, run.name); });
  runSelect.addEventListener('change', function () { state.run = Number(runSelect.value); state.set = 0; state.sample = 0; fillSteps(); render(); });
  stepSelect.addEventListener('change', function () { state.set = Number(stepSelect.value); state.sample = 0; render(); });
  prev.addEventListener('click', function () { if (state.sample > 0) { state.sample--; render(); } });
  next.addEventListener('click', function () { var set = currentSet(); if (set && state.sample < set.samples.length - 1) { state.sample++; render(); } });
  document.addEventListener('keydown', function (e) {
    if (e.target && (e.target.tagName === 'SELECT' || e.target.tagName === 'INPUT')) return;
    if (e.key === 'ArrowLeft') prev.click();
    if (e.key === 'ArrowRight') next.click();
  });
  // the latest step first: what the run ended with
  var firstRun = data.runs[0];
  if (firstRun && firstRun.sets.length) state.set = firstRun.sets.length - 1;
  fillSteps();
  render();
  root.setAttribute('data-ready', 'true');
})();
`;
