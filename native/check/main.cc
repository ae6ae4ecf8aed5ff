// Entry point of the standalone native check (see check.h).
//   pyvision_check [filter]   runs the cases whose name contains `filter`.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "check/check.h"
#include "core/device.h"

#ifdef PV_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace pv {
namespace check {

std::vector<Case>& Cases() {
  static std::vector<Case> cases;
  return cases;
}

namespace {

struct Worst {
  double margin = 0;  // |a-b| / (atol + rtol |b|): <= 1 passes
  size_t index = 0;
  double a = 0, b = 0;
  bool nan = false;
};

void Record(Context& ctx, const std::string& kernel, bool ok, double margin, const char* detail) {
  Row row;
  row.kernel = kernel;
  row.backend = "cmp";
  row.worst_error = margin;
  row.ok = ok;
  ctx.rows.push_back(row);
  if (!ok) ctx.failed = true;
  std::printf("%-44s %s  worst %.3g of tolerance%s\n", kernel.c_str(), ok ? "ok  " : "FAIL", margin, detail);
}

}  // namespace

bool Context::Compare(const std::string& kernel, const float* candidate, const float* reference, size_t n,
                      double atol, double rtol) {
  Worst worst;
  for (size_t i = 0; i < n; ++i) {
    const double a = candidate[i], b = reference[i];
    if (std::isnan(a) != std::isnan(b)) {
      worst.nan = true;
      worst.index = i;
      worst.a = a;
      worst.b = b;
      break;
    }
    if (std::isnan(a)) continue;
    const double margin = std::fabs(a - b) / (atol + rtol * std::fabs(b));
    if (margin > worst.margin) worst = {margin, i, a, b, false};
  }
  const bool ok = !worst.nan && worst.margin <= 1.0;
  char detail[160];
  std::snprintf(detail, sizeof detail, " (at %zu: %.9g vs %.9g, n=%zu)", worst.index, worst.a, worst.b, n);
  Record(*this, kernel, ok, worst.nan ? INFINITY : worst.margin, detail);
  return ok;
}

bool Context::CompareExact(const std::string& kernel, const int32_t* candidate, const int32_t* reference, size_t n) {
  size_t first = n;
  for (size_t i = 0; i < n && first == n; ++i)
    if (candidate[i] != reference[i]) first = i;
  char detail[160];
  if (first < n)
    std::snprintf(detail, sizeof detail, " (first difference at %zu: %d vs %d, n=%zu)", first, candidate[first],
                  reference[first], n);
  else
    std::snprintf(detail, sizeof detail, " (identical, n=%zu)", n);
  Record(*this, kernel, first == n, first == n ? 0.0 : INFINITY, detail);
  return first == n;
}

bool Context::CompareScalar(const std::string& kernel, double candidate, double reference, double atol, double rtol) {
  const double margin = std::fabs(candidate - reference) / (atol + rtol * std::fabs(reference));
  const bool ok = std::isfinite(candidate) && margin <= 1.0;
  char detail[160];
  std::snprintf(detail, sizeof detail, " (%.12g vs %.12g)", candidate, reference);
  Record(*this, kernel, ok, margin, detail);
  return ok;
}

double Context::Time(bool on_cuda, const std::function<void()>& call) {
  call();
  call();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
#ifdef PV_WITH_CUDA
    if (on_cuda) {
      cudaEvent_t start, stop;
      cudaEventCreate(&start);
      cudaEventCreate(&stop);
      cudaEventRecord(start);
      call();
      cudaEventRecord(stop);
      cudaEventSynchronize(stop);
      float elapsed = 0;
      cudaEventElapsedTime(&elapsed, start, stop);
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      ms.push_back(elapsed);
      continue;
    }
#endif
    (void)on_cuda;
    const auto t0 = std::chrono::steady_clock::now();
    call();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void Context::Report(const std::string& kernel, const std::string& backend, double ms, double bytes, double flops) {
  Row row;
  row.kernel = kernel;
  row.backend = backend;
  row.ms = ms;
  row.bytes = bytes;
  row.flops = flops;
  rows.push_back(row);
}

std::vector<float> Context::Uniform(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

std::vector<int32_t> Context::Ints(size_t n, int32_t lo, int32_t hi) {
  std::uniform_int_distribution<int32_t> dist(lo, hi);
  std::vector<int32_t> out(n);
  for (int32_t& x : out) x = dist(rng);
  return out;
}

}  // namespace check
}  // namespace pv

int main(int argc, char** argv) {
  using namespace pv::check;
  Context ctx;
  const pv::CudaStatus& cuda = pv::QueryCuda();
  ctx.cuda_available = cuda.available;
  if (cuda.available) {
    ctx.peak_bandwidth_gbs = cuda.devices[0].memory_bandwidth_gbs;
    std::printf("device: %s (cc %d.%d, %.1f GiB, theoretical %.0f GB/s)\n", cuda.devices[0].name.c_str(),
                cuda.devices[0].major, cuda.devices[0].minor, cuda.devices[0].total_memory / 1073741824.0,
                ctx.peak_bandwidth_gbs);
  } else {
    std::printf("CUDA not checked: %s\n", cuda.reason.c_str());
  }
  if (const char* bw = std::getenv("PV_CHECK_PEAK_GBS")) ctx.peak_bandwidth_gbs = std::atof(bw);
  const char* filter = argc > 1 ? argv[1] : "";
  for (const Case& c : Cases()) {
    if (std::strstr(c.name, filter) == nullptr) continue;
    std::printf("== %s\n", c.name);
    try {
      c.fn(ctx);
    } catch (const std::exception& e) {
      std::printf("%-44s FAIL  threw: %s\n", c.name, e.what());
      ctx.failed = true;
    }
  }
  std::printf("\n%-40s %-5s %12s %12s %12s\n", "kernel", "dev", "ms (median)", "GB/s", "of peak");
  for (const Row& r : ctx.rows) {
    if (r.backend == "cmp") continue;
    const double gbs = r.bytes > 0 ? r.bytes / (r.ms * 1e6) : 0;
    const double tflops = r.flops > 0 ? r.flops / (r.ms * 1e9) : 0;
    double fraction = 0;
    if (r.backend == "cuda") {
      if (r.flops > 0) fraction = tflops / ctx.peak_fp32_tflops;
      else if (ctx.peak_bandwidth_gbs > 0) fraction = gbs / ctx.peak_bandwidth_gbs;
    }
    char frac[32] = "-";
    if (fraction > 0) std::snprintf(frac, sizeof frac, "%.1f%%%s", 100 * fraction, r.flops > 0 ? " fp32" : " bw");
    std::printf("%-40s %-5s %12.4f %12.2f %12s\n", r.kernel.c_str(), r.backend.c_str(), r.ms, gbs, frac);
  }
  std::printf("\n%s\n", ctx.failed ? "native check FAILED" : "native check passed");
  return ctx.failed ? 1 : 0;
}
