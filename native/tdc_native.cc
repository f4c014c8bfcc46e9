// tdc_native: N-API addon running tfjs cpu-backend convolutions and matrix products on oneDNN (JIT, OpenMP threads).
//
// The tfjs cpu backend keeps every tensor in a plain Float32Array, so each entry point takes the input and output
// arrays and writes the result in place: no copies on the way in or out. Shapes, strides, dilations and pads are
// worked out in JS (tf.backend_util.computeConv2DInfo / computeConv3DInfo, the same code the stock kernels use) and
// arrive as one Int32Array; this file only maps them onto oneDNN descriptors.
//
// Layouts: activations NHWC / NDHWC (tfjs) are given to oneDNN as nhwc / ndhwc so they are never reordered;
// filters HWIO / DHWIO (tfjs) are reordered into whatever blocked layout the chosen implementation asks for,
// because the JIT kernels are several times faster on blocked weights and weights are small next to activations.
// Primitives are cached by their full parameter list: creating one JIT-compiles code (~ms), running it is cheap.
//
// Any oneDNN failure (e.g. an unsupported parameter combination) becomes a JS exception; the JS side then runs the
// stock kernel instead, so the addon can only make things faster, never wrong or unavailable.

#include <node_api.h>

#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine &eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream &strm() {
  static dnnl::stream s(eng());
  return s;
}

// ---------------------------------------------------------------------------------------------- threads

// Threads the caller asked for (setThreads), or OpenMP's default (OMP_NUM_THREADS, else the logical cores).
int configuredThreads() {
  static int n = omp_get_max_threads();
  return n;
}
int &threadsSetting() {
  static int n = configuredThreads();
  return n;
}

// Small jobs run on one thread. A parallel region costs a wake-up and a barrier: microseconds on an idle machine,
// but on a loaded one the barrier waits until the OS schedules the other thread again — measured 23 ms instead of
// 0.6 ms for a 2×64×80×8 → 8 3×3 convolution. Big jobs amortise that; below these sizes one thread wins.
constexpr double kConvParallelFlops = 2e8;
// In `parallel for simd` loops the threshold goes in `if (parallel : …)`: a bare `if` applies to the simd part too,
// and GCC then runs every loop below the threshold scalar (TdcReluGrad at 131K elements, in cache: 0.18 vs 0.023 ms).
constexpr int64_t kParallelMin = 1 << 22;  // elements, for the memory-bound loops

struct ThreadsFor {
  explicit ThreadsFor(bool big) { omp_set_num_threads(big ? threadsSetting() : 1); }
  ~ThreadsFor() { omp_set_num_threads(threadsSetting()); }
};

// ---------------------------------------------------------------------------------------------- N-API helpers

struct JsError {
  std::string msg;
};

#define NAPI_OK(call)                                  \
  do {                                                 \
    if ((call) != napi_ok) throw JsError{"napi: " #call}; \
  } while (0)

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t want) {
  size_t argc = want;
  std::vector<napi_value> argv(want);
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr));
  if (argc < want) throw JsError{"tdc_native: expected " + std::to_string(want) + " arguments"};
  return argv;
}

bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  NAPI_OK(napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined;
}

// The data pointer and element count of a Float32Array (or Int32Array when `want` says so).
template <typename T>
T *typed(napi_env env, napi_value v, napi_typedarray_type want, size_t *len) {
  bool is;
  NAPI_OK(napi_is_typedarray(env, v, &is));
  if (!is) throw JsError{"tdc_native: expected a typed array"};
  napi_typedarray_type type;
  void *data;
  napi_value ab;
  size_t off;
  NAPI_OK(napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off));
  if (type != want) throw JsError{"tdc_native: wrong typed array type"};
  return static_cast<T *>(data);
}

float *f32(napi_env env, napi_value v, size_t need) {
  size_t len;
  float *p = typed<float>(env, v, napi_float32_array, &len);
  if (len < need) throw JsError{"tdc_native: Float32Array too short (" + std::to_string(len) + " < " + std::to_string(need) + ")"};
  return p;
}

// The n ints of an Int32Array of parameters (exactly n, else "tdc_native: bad <what> params").
const int32_t *intParams(napi_env env, napi_value v, size_t n, const char *what) {
  size_t len;
  const int32_t *p = typed<int32_t>(env, v, napi_int32_array, &len);
  if (len != n) throw JsError{std::string("tdc_native: bad ") + what + " params"};
  return p;
}

int32_t i32(napi_env env, napi_value v) {
  int32_t out;
  NAPI_OK(napi_get_value_int32(env, v, &out));
  return out;
}

// Runs `body`, turning JsError / dnnl::error / std::exception into a thrown JS Error.
template <typename F>
napi_value guarded(napi_env env, F body) {
  try {
    return body();
  } catch (const JsError &e) {
    napi_throw_error(env, nullptr, e.msg.c_str());
  } catch (const dnnl::error &e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---------------------------------------------------------------------------------------------- convolution

// The parameters of one N-d convolution, decoded from the Int32Array the JS side builds:
// [nd, N, IC, OC, in[nd], k[nd], out[nd], stride[nd], dilation[nd] (tfjs: 1 = none), padBefore[nd], padAfter[nd]].
struct ConvParams {
  int nd = 0;
  memory::dim n = 0, ic = 0, oc = 0;
  memory::dims in, k, out, stride, dil, padL, padR;
  std::string key;

  static ConvParams decode(napi_env env, napi_value v) {
    size_t len;
    int32_t *p = typed<int32_t>(env, v, napi_int32_array, &len);
    if (len < 4) throw JsError{"tdc_native: bad conv params"};
    ConvParams c;
    c.nd = p[0];
    if ((c.nd != 2 && c.nd != 3) || len != static_cast<size_t>(4 + 7 * c.nd)) throw JsError{"tdc_native: bad conv params"};
    c.n = p[1];
    c.ic = p[2];
    c.oc = p[3];
    const int32_t *q = p + 4;
    for (memory::dims *d : {&c.in, &c.k, &c.out, &c.stride, &c.dil, &c.padL, &c.padR}) {
      d->assign(q, q + c.nd);
      q += c.nd;
    }
    for (auto &d : c.dil) d -= 1;  // oneDNN counts dilation from 0
    c.key.assign(reinterpret_cast<const char *>(p), len * sizeof(int32_t));
    return c;
  }

  memory::desc act(const memory::dims &spatial, memory::dim ch) const {
    memory::dims d{n, ch};
    d.insert(d.end(), spatial.begin(), spatial.end());
    return memory::desc(d, dt::f32, nd == 2 ? tag::nhwc : tag::ndhwc);
  }
  memory::desc src() const { return act(in, ic); }
  memory::desc dst() const { return act(out, oc); }
  memory::dims wdims() const {
    memory::dims d{oc, ic};
    d.insert(d.end(), k.begin(), k.end());
    return d;
  }
  // The filter as tfjs stores it: [kh, kw, ic, oc] = oneDNN hwio.
  memory::desc wUser() const { return memory::desc(wdims(), dt::f32, nd == 2 ? tag::hwio : tag::dhwio); }
  memory::desc wAny() const { return memory::desc(wdims(), dt::f32, tag::any); }
  memory::desc bias() const { return memory::desc({oc}, dt::f32, tag::x); }
  memory::desc any(const memory::desc &md) const { return memory::desc(md.dims(), dt::f32, tag::any); }
  double flops() const {
    double f = 2.0 * static_cast<double>(n) * static_cast<double>(ic) * static_cast<double>(oc);
    for (int d = 0; d < nd; d++) f *= static_cast<double>(k[d]) * static_cast<double>(out[d]);
    return f;
  }
};

dnnl::convolution_forward::desc fwdDesc(const ConvParams &c, bool withBias, dnnl::prop_kind kind, const memory::desc &src,
                                        const memory::desc &dst) {
  if (withBias) {
    return dnnl::convolution_forward::desc(kind, dnnl::algorithm::convolution_direct, src, c.wAny(), c.bias(), dst, c.stride, c.dil,
                                           c.padL, c.padR);
  }
  return dnnl::convolution_forward::desc(kind, dnnl::algorithm::convolution_direct, src, c.wAny(), dst, c.stride, c.dil, c.padL, c.padR);
}
dnnl::convolution_forward::desc fwdDesc(const ConvParams &c, bool withBias, dnnl::prop_kind kind) {
  return fwdDesc(c, withBias, kind, c.src(), c.dst());
}

// How a convolution's backward-weights runs: oneDNN on the nhwc activations, oneDNN on activations reordered into its
// blocked layout, or one matrix product per filter tap (weightsPath says which, and why).
enum class WeightsPath { nhwc, blocked, taps };

// Backward-weights calls per path since the addon loaded (weightsPaths(): tests check which path ran).
int64_t weightsPathCalls[3] = {0, 0, 0};

// A cached primitive with the (possibly blocked) weights layout it wants and, when that differs from the tfjs
// layout, the reorder between the two.
struct ConvEntry {
  dnnl::primitive prim;
  memory::desc wWant;
  bool needReorder = false;
  dnnl::reorder reorder;  // user → wanted (forward, backward data) or wanted → user (backward weights)
  // The blocked weights buffer, allocated once: a fresh multi-MB buffer per call costs its page faults every time
  // (measured: median 9 ms per 512×512×3×3 reorder with fresh buffers). Calls come from the one JS thread.
  memory wBuf;
  // convBackwardDataByForward only: the filter with its taps reversed, kept for the same reason as wBuf.
  std::vector<float> flipBuf;
  // Backward weights only: how dW is computed (weightsPath), and for the blocked path the activation layouts the
  // primitive wants with the reorders into them (empty when a layout is already nhwc).
  WeightsPath path = WeightsPath::nhwc;
  memory::desc srcWant, dstWant;
  dnnl::reorder srcReorder, dstReorder;
};

// Weight reorders are short and memory-bound. Small ones run on one thread, which never waits at a barrier for a
// descheduled second thread (measured 0.3 to 70 ms for the same 512×512×3×3 reorder on two threads of a loaded
// machine); from kReorderParallel elements on (in the paper's networks the 256×512 and 512×512 3×3 filters) they run
// on every thread. refuge18, 2 threads, per reorder of a 512×512×3×3 filter, median over 2–6 steps (one thread → all):
// dW back to hwio (ABcd16b16a → cdba) 1.89 → 0.97 / 1.52 ms idle, 13.6 → 7.1 ms beside two busy threads (load 3);
// hwio → Acdb32a 1.18 → 1.03 / 1.29 → 2.86 idle, 15.4 → 4.9 loaded; the flipped filter 0.99 → 0.83 / 1.04 → 1.20
// idle, 10.8 → 5.3 loaded. Idle it is a wash (the reorder is bound by memory, not by a core); loaded, a descheduled
// single thread stalls the whole reorder as much as a barrier does, and two threads halve it.
constexpr int64_t kReorderParallel = int64_t{1} << 20;
void reorderWeights(dnnl::reorder &r, memory &from, memory &to) {
  const int64_t elements = static_cast<int64_t>(from.get_desc().get_size() / sizeof(float));
  const int before = omp_get_max_threads();  // the caller's ThreadsFor, restored after
  omp_set_num_threads(elements >= kReorderParallel ? threadsSetting() : 1);
  r.execute(strm(), from, to);
  strm().wait();
  omp_set_num_threads(before);
}

// The user's weights as the primitive wants them: as given, or reordered into the entry's buffer (forward and
// backward data; backward weights reorders the other way, after the primitive).
memory weightsIn(ConvEntry &e, memory &wu) {
  if (!e.needReorder) return wu;
  if (!e.wBuf) e.wBuf = memory(e.wWant, eng());
  reorderWeights(e.reorder, wu, e.wBuf);
  return e.wBuf;
}

std::mutex cacheMutex;
std::unordered_map<std::string, std::shared_ptr<ConvEntry>> cache;

std::shared_ptr<ConvEntry> cached(const std::string &key, const std::function<std::shared_ptr<ConvEntry>()> &make) {
  std::lock_guard<std::mutex> lock(cacheMutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  auto e = make();
  cache.emplace(key, e);
  return e;
}

// y = conv(x, w) (+ b) (relu), the filter given as tfjs stores it or, with `flipped`, as the filter of the conv whose
// input gradient this is: [...k, c.oc, c.ic] with the taps in reverse order (see ConvBackwardDataByForward).
napi_value convForwardImpl(napi_env env, napi_value xv, napi_value wv, napi_value bv, napi_value yv, const ConvParams &c, bool relu,
                           bool flipped) {
  ThreadsFor threads(c.flops() >= kConvParallelFlops);
  const bool withBias = !isNullish(env, bv);
  float *x = f32(env, xv, c.src().get_size() / 4);
  float *w = f32(env, wv, c.wUser().get_size() / 4);
  float *b = withBias ? f32(env, bv, static_cast<size_t>(c.oc)) : nullptr;
  float *y = f32(env, yv, c.dst().get_size() / 4);
  // The filter as given: hwio, or for `flipped` (once its taps are reversed) in/out swapped, i.e. the strides of hwoi.
  memory::desc wGiven = c.wUser();
  if (flipped) {
    memory::dims st(2 + c.nd);
    st[1] = 1;
    st[0] = c.ic;
    memory::dim step = c.ic * c.oc;
    for (int d = c.nd - 1; d >= 0; d--) {
      st[2 + d] = step;
      step *= c.k[d];
    }
    wGiven = memory::desc(c.wdims(), dt::f32, st);
  }
  std::string key = "F" + std::to_string(withBias) + std::to_string(relu) + std::to_string(flipped) + c.key;
  auto e = cached(key, [&]() {
    dnnl::primitive_attr attr;
    if (relu) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    dnnl::convolution_forward::primitive_desc pd(fwdDesc(c, withBias, dnnl::prop_kind::forward_inference), attr, eng());
    auto out = std::make_shared<ConvEntry>();
    out->prim = dnnl::convolution_forward(pd);
    out->wWant = pd.weights_desc();
    out->needReorder = out->wWant != wGiven;
    if (out->needReorder) out->reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng(), wGiven, eng(), out->wWant));
    return out;
  });
  float *wTaps = w;
  if (flipped) {
    // Reversing the taps moves whole ic × oc blocks; the in/out swap is left to the reorder (wGiven's strides).
    if (e->flipBuf.empty()) e->flipBuf.resize(c.wUser().get_size() / 4);
    const size_t block = static_cast<size_t>(c.ic * c.oc), taps = e->flipBuf.size() / block;
    for (size_t t = 0; t < taps; t++) std::memcpy(e->flipBuf.data() + t * block, w + (taps - 1 - t) * block, block * sizeof(float));
    wTaps = e->flipBuf.data();
  }
  memory xm(c.src(), eng(), x), ym(c.dst(), eng(), y), wu(wGiven, eng(), wTaps);
  memory wm = weightsIn(*e, wu);
  std::unordered_map<int, memory> m{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
  if (withBias) m.emplace(DNNL_ARG_BIAS, memory(c.bias(), eng(), b));
  e->prim.execute(strm(), m);
  strm().wait();
  return undef(env);
}

// convForward(x, filter, bias | null, y, params: Int32Array, relu: 0 | 1)
napi_value ConvForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 6);
    return convForwardImpl(env, a[0], a[1], a[2], a[3], ConvParams::decode(env, a[4]), i32(env, a[5]) != 0, false);
  });
}

// convBackwardDataByForward(dy, filter, dx, params): dx of a stride-1 conv as the forward conv of dy with its filter
// ([...k, IC, OC] as tfjs stores it) flipped and in/out swapped; params are that forward conv's (IC and OC swapped, the
// flipped pads). The flip and swap used to be one transposing copy in JS into a fresh array (e.g. 33 vs 22 ms for a
// 3×3×512×512 filter, fresh vs kept, at load 11); here the flip is a block copy into a kept buffer and the swap rides
// on the reorder into the primitive's blocked layout, which runs anyway.
napi_value ConvBackwardDataByForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 4);
    napi_value none;
    NAPI_OK(napi_get_null(env, &none));
    return convForwardImpl(env, a[0], a[1], none, a[2], ConvParams::decode(env, a[3]), false, true);
  });
}

// convBackwardData(dy, filter, dx, params)
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 4);
    ConvParams c = ConvParams::decode(env, a[3]);
    ThreadsFor threads(c.flops() >= kConvParallelFlops);
    float *dy = f32(env, a[0], c.dst().get_size() / 4);
    float *w = f32(env, a[1], c.wUser().get_size() / 4);
    float *dx = f32(env, a[2], c.src().get_size() / 4);
    auto e = cached("D" + c.key, [&]() {
      dnnl::convolution_forward::primitive_desc hint(fwdDesc(c, false, dnnl::prop_kind::forward_training), eng());
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, c.src(), c.wAny(), c.dst(), c.stride, c.dil, c.padL,
                                             c.padR);
      dnnl::convolution_backward_data::primitive_desc pd(d, eng(), hint);
      auto out = std::make_shared<ConvEntry>();
      out->prim = dnnl::convolution_backward_data(pd);
      out->wWant = pd.weights_desc();
      out->needReorder = out->wWant != c.wUser();
      if (out->needReorder) out->reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng(), c.wUser(), eng(), out->wWant));
      return out;
    });
    memory dym(c.dst(), eng(), dy), dxm(c.src(), eng(), dx), wu(c.wUser(), eng(), w);
    memory wm = weightsIn(*e, wu);
    e->prim.execute(strm(), {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
    strm().wait();
    return undef(env);
  });
}

// ---------------------------------------------------------------------------------------------- backward weights
//
// How dW is computed is chosen by shape alone (never by timing a run), so a step's arithmetic is the same on every
// run and `--resume` stays exact. Measured on this machine's AMD EPYC (Zen 4, AVX-512; oneDNN 2.6.3), per call, CPU
// ms on one thread (medians of 3, interleaved; tdc's activations are nhwc, the weights hwio):
// - oneDNN falls back to im2col + gemm for a dilated conv whose dilated kernel is larger than the map (its direct
//   kernel requires (k − 1)·rate + 1 ≤ in): the gemm computes every tap over the whole map, though the outer taps of
//   a rate-15 3×3 conv on a 16×16 map read one row of data and fifteen of padding. One matrix product per tap over
//   only the positions whose input is inside the map (tapBackwardWeights): [2,16,16,512] → 512 rate 15: 23.6 →
//   3.5 ms; → 256 rate 9: 13.9 → 4.6; robot18's [2,16,20,512] rate 15: 29.4 → 6.1, rate 12: 16.9 → 4.5. On two
//   threads at load 8 (taps of a few rows on one thread, see tapThreads): 64–79 → 15–19, 38–41 → 14–17, 79–82 →
//   17–19, 42–53 → 14–15 ms.
// - the same products also win per core on small maps with many channels (short inner dimension, and no reorder
//   of dW back to hwio): [2,16,16,512] → 512 3×3 25.7 → 21.9 ms on one thread. But on two threads of a loaded
//   machine (load 8) nine products are nine parallel regions, each a barrier that may wait for a descheduled thread:
//   the same conv took 68–88 → 144–152 ms, while oneDNN's one primitive did not. So of those only the 1×1 kernels,
//   one product on x and dY in place: [2,16,20,512] → 512: 26.6 → 12.0 ms (two threads, load 8), [2,16,20,1280] →
//   256: 29.8 → 16.5, [2,16,16,1280] → 256: 8.3 → 3.3; on one thread 3.4 → 3.1, 3.9 → 3.2. Where the inner
//   dimension is long even that loses (up to 4.8× on the 3-channel input layer): ic ≥ 256 and batch × output pixels
//   ≤ 2560 (robot18's 32×40) keeps to the measured cases.
// - 3D (BRATS18), oneDNN's direct backward-weights kernel is much faster on its blocked activation layout
//   (nCdhw16c) than on ndhwc, enough to pay the two reorders: [2,19,72,72,64] → 128 3×1×1 282 → 136 ms,
//   [2,19,72,72,64] → 64 1×3×3 231 → 173, [2,19,36,36,128] → 128 1×3×3 rate 2..15: 0.80–0.90×, rate 1 1.01×;
//   not with 32 output channels ([2,19,144,144,32] → 32: 1.00–1.16×) nor 1×1×1 kernels (1.18–1.32×).
// - 2D, on two threads, the same holds for undilated stride-1 convs on big maps with 64–256 channels (on one thread
//   it did not: 1.14–1.18× at [2,256,256,64], the measurement that kept 2D on nhwc before). refuge18, 3×3, batch 2,
//   ms per call nhwc → blocked (+ the reorders of x and dY, kept buffers), median of 6 steps in the train step at
//   load ~1.7; standalone (warm buffers, idle) in brackets: [2,256,256,3] → 64 10.7 → 3.0 (+4.8) [14.4 → 2.5 + 6.4];
//   [2,128,128,64] → 128 31.4 → 26.0 (+~3) [33.0 → 23.3 + 2.0]; [2,128,128,128] → 128 73.3 → 51.6 (+5.0)
//   [65.7 → 47.2 + 5.1]; [2,64,64,128] → 256 27.9 → 25.6 (+0.6) [25.2 → 23.2 + 0.3]; [2,64,64,256] → 256 58.8 → 50.2
//   (+1.2) [53.2 → 46.6 + 0.6]. Not at [2,256,256,64] → 64, 60.3 → 52.7 + 9.5 (standalone 73.7 → 49.9 + 10.0): the
//   reorders move ic + oc values per pixel for taps·ic·oc multiply-adds, and at 64/64 that ratio (288) is too low;
//   ≥ 384 (64/128 and up) wins, and so does the 3-channel input layer, whose x reorder is nearly free. Nor with 512
//   channels on 32×32 ([2,32,32,512] → 512: 46.7 → 50.2 + 0.8 standalone). So 2D: taps > 1, stride 1, undilated,
//   64 ≤ oc ≤ 256, ic ≤ 256, output map ≥ 64×64, and taps·ic·oc / (ic + oc) ≥ 384 or ic < 16. The 64×64 maps are
//   the margin: over 12 more refuge18 steps (load 1.5–5) [2,64,64,256] → 256 went 51.4 → 50.7 ms (25th
//   percentile) plus its reorders, while robot18's [2,64,80,256] → 256 went 93.8 → 62.8 (median of 4 steps) and
//   [2,64,80,128] → 256 44 → 31.
WeightsPath weightsPath(const ConvParams &c, bool onednnFallsBackToGemm) {
  const bool unitStride = std::all_of(c.stride.begin(), c.stride.end(), [](memory::dim s) { return s == 1; });
  if (unitStride && onednnFallsBackToGemm) return WeightsPath::taps;
  double pixels = static_cast<double>(c.n);
  for (auto o : c.out) pixels *= static_cast<double>(o);
  memory::dim taps = 1;
  for (auto k : c.k) taps *= k;
  if (unitStride && taps == 1 && c.nd == 2 && c.ic >= 256 && pixels <= 2560) return WeightsPath::taps;
  if (c.nd == 3 && taps > 1 && c.oc >= 64) return WeightsPath::blocked;
  const bool undilated = std::all_of(c.dil.begin(), c.dil.end(), [](memory::dim d) { return d == 0; });
  const double macsPerReordered = static_cast<double>(taps * c.ic * c.oc) / static_cast<double>(c.ic + c.oc);
  if (c.nd == 2 && taps > 1 && unitStride && undilated && c.oc >= 64 && c.ic <= 256 && c.oc <= 256 &&
      pixels / static_cast<double>(c.n) >= 64 * 64 && (c.ic < 16 || macsPerReordered >= 384))
    return WeightsPath::blocked;
  return WeightsPath::nhwc;
}

// Grown as needed and kept (calls come from the one JS thread): the per-tap gathered rows.
std::vector<float> &scratch(int which) {
  static std::vector<float> bufs[2];
  return bufs[which];
}

// A buffer on transparent huge pages: with 2 MB pages its first touch costs ~512× fewer page faults.
// madvise(advice) over the units of `unit` bytes (a power of two) lying wholly inside [from, to): the units shared
// with neighbouring memory are left alone.
void madviseInside(const void *from, const void *to, uintptr_t unit, int advice) {
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(from) + unit - 1) & ~(unit - 1);
  const uintptr_t hi = reinterpret_cast<uintptr_t>(to) & ~(unit - 1);
  if (hi > lo) madvise(reinterpret_cast<void *>(lo), hi - lo, advice);
}

struct HugeBuffer {
  void *base = nullptr;
  size_t len = 0;
  float *data = nullptr;
  explicit HugeBuffer(size_t bytes) {
    constexpr size_t kHuge = size_t{2} << 20;
    len = bytes + kHuge;
    base = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw JsError{"tdc_native: out of memory"};
    madviseInside(base, static_cast<char *>(base) + len, kHuge, MADV_HUGEPAGE);
    data = reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(base) + kHuge - 1) & ~(kHuge - 1));
  }
  ~HugeBuffer() { munmap(base, len); }
  HugeBuffer(const HugeBuffer &) = delete;
  HugeBuffer &operator=(const HugeBuffer &) = delete;
};

// A work buffer kept from call to call (calls come from the one JS thread) and grown as needed, for sizes up to
// `keepMax`; a larger request gets a fresh buffer that the caller's `fresh` holds for that one call. A fresh buffer
// pays the kernel's zeroing of its pages on every call (clear_page was 7 % of a refuge18 run's CPU samples, mostly
// first touches of fresh outputs), a kept one only once, but a kept one stays in the process's memory for good.
struct KeptBuffer {
  std::unique_ptr<HugeBuffer> buf;
  size_t cap = 0;
  float *get(size_t bytes, size_t keepMax, std::unique_ptr<HugeBuffer> &fresh) {
    if (bytes > keepMax) {
      fresh = std::make_unique<HugeBuffer>(bytes);
      return fresh->data;
    }
    if (bytes > cap) {
      buf.reset();
      buf = std::make_unique<HugeBuffer>(bytes);
      cap = bytes;
    }
    return buf->data;
  }
};

// The activations of the blocked backward-weights path, reordered (kept for 2D, see ConvBackwardWeights).
constexpr size_t kBlockedKeepMax = size_t{64} << 20;
KeptBuffer blockedSrc, blockedDiffDst;

// dW (and db) of a stride-1 convolution as one matrix product per filter tap: dW[tap] (ic × oc, which is exactly
// tfjs's [...k, ic, oc] layout, so no reorder) = Xᵀ·dY over the output positions whose input for that tap lies inside
// the map, X and dY gathered into contiguous rows (or used in place when the tap covers the whole map unshifted).
void tapBackwardWeights(const ConvParams &c, const float *x, const float *dy, float *dw, float *db) {
  const int nd = c.nd;
  const int64_t ic = c.ic, oc = c.oc;
  int64_t taps = 1;
  for (int d = 0; d < nd; d++) taps *= c.k[d];
  std::vector<int64_t> inSt(nd), outSt(nd);  // pixels per step along each spatial axis
  int64_t inPix = 1, outPix = 1;
  for (int d = nd - 1; d >= 0; d--) {
    inSt[d] = inPix;
    outSt[d] = outPix;
    inPix *= c.in[d];
    outPix *= c.out[d];
  }
  std::vector<int64_t> lo(nd), hi(nd), off(nd);
  for (int64_t t = 0; t < taps; t++) {
    int64_t rest = t, rows = c.n;
    bool inPlace = true;
    for (int d = nd - 1; d >= 0; d--) {
      const int64_t k = rest % c.k[d];
      rest /= c.k[d];
      off[d] = k * (c.dil[d] + 1) - c.padL[d];
      lo[d] = std::max<int64_t>(0, -off[d]);
      hi[d] = std::min<int64_t>(c.out[d], c.in[d] - off[d]);
      rows *= std::max<int64_t>(0, hi[d] - lo[d]);
      if (off[d] != 0 || lo[d] != 0 || hi[d] != c.out[d] || c.in[d] != c.out[d]) inPlace = false;
    }
    float *C = dw + t * ic * oc;
    if (rows == 0) {
      std::fill(C, C + ic * oc, 0.f);
      continue;
    }
    // Threads per tap, by that tap's work (its rows): most taps of a dilated conv on a small map are a few rows, and
    // a parallel region each would cost more than the product (under load, a barrier waits for a descheduled thread).
    ThreadsFor tapThreads(2.0 * static_cast<double>(ic * oc * rows) >= kConvParallelFlops);
    const float *A = x, *B = dy;
    if (!inPlace) {
      auto &gx = scratch(0), &gd = scratch(1);
      if (static_cast<int64_t>(gx.size()) < rows * ic) gx.resize(rows * ic);
      if (static_cast<int64_t>(gd.size()) < rows * oc) gd.resize(rows * oc);
      const int64_t run = hi[nd - 1] - lo[nd - 1];  // contiguous pixels along the last axis
      const int64_t runs = rows / run;
#pragma omp parallel for if (rows * (ic + oc) >= kParallelMin)
      for (int64_t r = 0; r < runs; r++) {
        int64_t q = r, ip = 0, op = 0;
        for (int d = nd - 2; d >= 0; d--) {
          const int64_t span = hi[d] - lo[d];
          const int64_t o = lo[d] + q % span;
          q /= span;
          ip += (o + off[d]) * inSt[d];
          op += o * outSt[d];
        }
        ip += q * inPix + lo[nd - 1] + off[nd - 1];
        op += q * outPix + lo[nd - 1];
        std::memcpy(gx.data() + r * run * ic, x + ip * ic, static_cast<size_t>(run * ic) * sizeof(float));
        std::memcpy(gd.data() + r * run * oc, dy + op * oc, static_cast<size_t>(run * oc) * sizeof(float));
      }
      A = gx.data();
      B = gd.data();
    }
    if (dnnl_sgemm('T', 'N', ic, oc, rows, 1.f, A, ic, B, oc, 0.f, C, oc) != dnnl_success) throw JsError{"oneDNN: sgemm failed"};
  }
  if (db) {
    std::fill(db, db + oc, 0.f);
    const int64_t positions = c.n * outPix;
    for (int64_t i = 0; i < positions; i++)
      for (int64_t o = 0; o < oc; o++) db[o] += dy[i * oc + o];
  }
}

// convBackwardWeights(x, dy, dw, params, db | null): dW, and with db the bias gradient Σ dy in the same primitive.
napi_value ConvBackwardWeights(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 5);
    ConvParams c = ConvParams::decode(env, a[3]);
    ThreadsFor threads(c.flops() >= kConvParallelFlops);
    const bool withBias = !isNullish(env, a[4]);
    float *x = f32(env, a[0], c.src().get_size() / 4);
    float *dy = f32(env, a[1], c.dst().get_size() / 4);
    float *dw = f32(env, a[2], c.wUser().get_size() / 4);
    float *db = withBias ? f32(env, a[4], static_cast<size_t>(c.oc)) : nullptr;
    auto e = cached("W" + std::to_string(withBias) + c.key, [&]() {
      auto out = std::make_shared<ConvEntry>();
      auto make = [&](const memory::desc &src, const memory::desc &dst) {
        dnnl::convolution_forward::primitive_desc hint(fwdDesc(c, withBias, dnnl::prop_kind::forward_training, src, dst), eng());
        auto d = withBias ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src, c.wAny(), c.bias(), dst,
                                                                     c.stride, c.dil, c.padL, c.padR)
                          : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src, c.wAny(), dst, c.stride,
                                                                     c.dil, c.padL, c.padR);
        return dnnl::convolution_backward_weights::primitive_desc(d, eng(), hint);
      };
      auto pd = make(c.src(), c.dst());
      out->path = weightsPath(c, std::string(pd.impl_info_str()).find("gemm") != std::string::npos);
      if (out->path == WeightsPath::taps) return out;
      if (out->path == WeightsPath::blocked) {
        pd = make(c.any(c.src()), c.any(c.dst()));
        out->srcWant = pd.src_desc();
        out->dstWant = pd.diff_dst_desc();
        if (out->srcWant != c.src()) out->srcReorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng(), c.src(), eng(), out->srcWant));
        if (out->dstWant != c.dst()) out->dstReorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng(), c.dst(), eng(), out->dstWant));
      }
      out->prim = dnnl::convolution_backward_weights(pd);
      out->wWant = pd.diff_weights_desc();
      out->needReorder = out->wWant != c.wUser();
      if (out->needReorder) out->reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng(), out->wWant, eng(), c.wUser()));
      return out;
    });
    weightsPathCalls[static_cast<int>(e->path)]++;
    if (e->path == WeightsPath::taps) {
      tapBackwardWeights(c, x, dy, dw, db);
      return undef(env);
    }
    memory xm(c.src(), eng(), x), dym(c.dst(), eng(), dy), wu(c.wUser(), eng(), dw);
    // 2D: kept buffers (refuge18's largest, dY of [2,256,256,3] → 64, is 32 MB); 3D: fresh ones, since BRATS18's blocked
    // activations are up to 100 MB each and kept they would add to the peak memory of the whole step.
    const size_t keepMax = c.nd == 2 ? kBlockedKeepMax : 0;
    std::unique_ptr<HugeBuffer> xFresh, dyFresh;
    if (e->srcReorder) {
      memory to(e->srcWant, eng(), blockedSrc.get(e->srcWant.get_size(), keepMax, xFresh));
      e->srcReorder.execute(strm(), xm, to);
      xm = to;
    }
    if (e->dstReorder) {
      memory to(e->dstWant, eng(), blockedDiffDst.get(e->dstWant.get_size(), keepMax, dyFresh));
      e->dstReorder.execute(strm(), dym, to);
      dym = to;
    }
    if (e->needReorder && !e->wBuf) e->wBuf = memory(e->wWant, eng());
    memory wm = e->needReorder ? e->wBuf : wu;
    std::unordered_map<int, memory> m{{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, wm}};
    if (withBias) m.emplace(DNNL_ARG_DIFF_BIAS, memory(c.bias(), eng(), db));
    e->prim.execute(strm(), m);
    strm().wait();
    if (e->needReorder) reorderWeights(e->reorder, wm, wu);
    return undef(env);
  });
}

// ---------------------------------------------------------------------------------------------- matrix product

// batchMatMul(a, b, c, [batch, batchA, batchB, M, K, N, transA, transB]): row-major C[i] = op(A[i]) · op(B[i]),
// where a batch of 1 on either side is broadcast (the cases tfjs's BatchMatMul produces after reshaping to 3D).
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 4);
    size_t len;
    int32_t *p = typed<int32_t>(env, a[3], napi_int32_array, &len);
    if (len != 8) throw JsError{"tdc_native: bad matmul params"};
    const int64_t batch = p[0], batchA = p[1], batchB = p[2], M = p[3], K = p[4], N = p[5];
    const bool ta = p[6] != 0, tb = p[7] != 0;
    if ((batchA != batch && batchA != 1) || (batchB != batch && batchB != 1)) throw JsError{"tdc_native: matmul batch mismatch"};
    float *A = f32(env, a[0], static_cast<size_t>(batchA * M * K));
    float *B = f32(env, a[1], static_cast<size_t>(batchB * K * N));
    float *C = f32(env, a[2], static_cast<size_t>(batch * M * N));
    const int64_t lda = ta ? M : K, ldb = tb ? K : N;
    const bool big = 2.0 * batch * M * N * K >= kConvParallelFlops;
    ThreadsFor threads(big);
    auto one = [&](int64_t i) {
      const float *Ai = A + (batchA == 1 ? 0 : i * M * K);
      const float *Bi = B + (batchB == 1 ? 0 : i * K * N);
      return dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.f, Ai, lda, Bi, ldb, 0.f, C + i * M * N, N);
    };
    // One small, mostly-zero [M, K] matrix applied to many [K, N] slices (a separable resize applies its [out, in]
    // interpolation matrix along one axis to thousands of slices; its gradient the transpose): A's non-zeros are
    // listed once, then one parallel loop over the slices adds them up (an interpolation row has at most two, so
    // this is ~K/2 times less work than a dense product; the sums differ from a dense product's only where B holds
    // an Inf or NaN that a zero of A would have turned into NaN). sgemm per slice cost a parallel region each: 5472
    // wake-ups and barriers for one BRATS18 resize, 0.7 s on a loaded machine (this loop: 50 ms).
    if (batch > 1 && batchA == 1 && !tb && M * K <= 1 << 16 && 2.0 * M * N * K < kConvParallelFlops) {
      // op(A) as rows of (k, value) non-zeros.
      std::vector<int64_t> rowStart(static_cast<size_t>(M) + 1, 0);
      std::vector<std::pair<int64_t, float>> nz;
      for (int64_t m = 0; m < M; m++) {
        for (int64_t k = 0; k < K; k++) {
          const float av = ta ? A[k * M + m] : A[m * K + k];
          if (av != 0.f) nz.emplace_back(k, av);
        }
        rowStart[static_cast<size_t>(m) + 1] = static_cast<int64_t>(nz.size());
      }
      if (static_cast<int64_t>(nz.size()) * 4 <= M * K) {
#pragma omp parallel for schedule(static) if (big)
        for (int64_t i = 0; i < batch; i++) {
          const float *Bi = B + (batchB == 1 ? 0 : i * K * N);
          float *Ci = C + i * M * N;
          for (int64_t m = 0; m < M; m++) {
            float *c = Ci + m * N;
            for (int64_t n = 0; n < N; n++) c[n] = 0.f;
            for (int64_t j = rowStart[m]; j < rowStart[m + 1]; j++) {
              const float av = nz[j].second;
              const float *b = Bi + nz[j].first * N;
#pragma omp simd
              for (int64_t n = 0; n < N; n++) c[n] += av * b[n];
            }
          }
        }
        return undef(env);
      }
    }
    for (int64_t i = 0; i < batch; i++) {
      if (one(i) != dnnl_success) throw JsError{"oneDNN: sgemm failed"};
    }
    return undef(env);
  });
}

// ---------------------------------------------------------------------------------------------- memory-bound ops
//
// The stock cpu backend runs these as single-threaded JS loops (Transpose, Slice, PadV2 and Reverse through a
// per-element index computation); in a training step of the ROBOT18 network they cost several times the
// convolutions. Here they are plain OpenMP loops over contiguous float32 arrays.


// stridedCopy(src, dst, [rank, shape[rank], srcOffset, srcStrides[rank], dstOffset, dstStrides[rank]]):
// dst[dstOffset + Σ i_d·dstStrides_d] = src[srcOffset + Σ i_d·srcStrides_d] over the box `shape`. Strides may be
// negative (Reverse); Transpose, Slice, the copy half of PadV2 and Reverse are all one call.
napi_value StridedCopy(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 3);
    size_t slen, dlen, plen;
    float *src = typed<float>(env, a[0], napi_float32_array, &slen);
    float *dst = typed<float>(env, a[1], napi_float32_array, &dlen);
    int32_t *p = typed<int32_t>(env, a[2], napi_int32_array, &plen);
    if (plen < 1) throw JsError{"tdc_native: bad copy params"};
    const int rank = p[0];
    if (rank < 1 || plen != static_cast<size_t>(3 + 3 * rank)) throw JsError{"tdc_native: bad copy params"};
    const int32_t *shape = p + 1;
    const int64_t srcOff = p[1 + rank];
    const int32_t *ss = p + 2 + rank;
    const int64_t dstOff = p[2 + 2 * rank];
    const int32_t *ds = p + 3 + 2 * rank;
    int64_t outer = 1;
    for (int d = 0; d < rank - 1; d++) outer *= shape[d];
    const int64_t inner = shape[rank - 1];
    if (outer * inner == 0) return undef(env);
    // Bounds: the extreme offsets along every axis must stay inside both arrays.
    int64_t sLo = srcOff, sHi = srcOff, dLo = dstOff, dHi = dstOff;
    for (int d = 0; d < rank; d++) {
      const int64_t span = static_cast<int64_t>(shape[d] - 1);
      (ss[d] < 0 ? sLo : sHi) += span * ss[d];
      (ds[d] < 0 ? dLo : dHi) += span * ds[d];
    }
    if (sLo < 0 || dLo < 0 || sHi >= static_cast<int64_t>(slen) || dHi >= static_cast<int64_t>(dlen)) throw JsError{"tdc_native: copy out of bounds"};
    const int64_t sIn = ss[rank - 1], dIn = ds[rank - 1];
#pragma omp parallel for schedule(static) if (outer * inner >= kParallelMin)
    for (int64_t o = 0; o < outer; o++) {
      int64_t rem = o, so = srcOff, dof = dstOff;
      for (int d = rank - 2; d >= 0; d--) {
        const int64_t i = rem % shape[d];
        rem /= shape[d];
        so += i * ss[d];
        dof += i * ds[d];
      }
      const float *s = src + so;
      float *t = dst + dof;
      if (sIn == 1 && dIn == 1) {
        std::memcpy(t, s, static_cast<size_t>(inner) * sizeof(float));
      } else {
        for (int64_t i = 0; i < inner; i++) t[i * dIn] = s[i * sIn];
      }
    }
    return undef(env);
  });
}

// fill(dst, value)
napi_value Fill(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 2);
    size_t n;
    float *dst = typed<float>(env, a[0], napi_float32_array, &n);
    double v;
    NAPI_OK(napi_get_value_double(env, a[1], &v));
    const float fv = static_cast<float>(v);
    const int64_t len = static_cast<int64_t>(n);
#pragma omp parallel for simd schedule(static) if (parallel : len >= kParallelMin)
    for (int64_t i = 0; i < len; i++) dst[i] = fv;
    return undef(env);
  });
}

// The op ids binary() and unary() take. Each list is the one source of its ids: the enum is generated from it, and
// Init exports it to JS as { name: id } (addon.binaryOps, addon.unaryOps), names being the tfjs kernels they run.
#define TDC_BINARY_OPS(X) X(kAdd, "Add") X(kSub, "Sub") X(kMul, "Multiply") X(kDiv, "RealDiv") X(kMax, "Maximum") X(kMin, "Minimum") X(kReluGrad, "TdcReluGrad")
#define TDC_UNARY_OPS(X) X(kRelu, "Relu") X(kStep, "Step") X(kNeg, "Neg") X(kRelu6, "Relu6") X(kExp, "Exp")
#define TDC_ENUM_ENTRY(id, name) id,
enum BinaryOp { TDC_BINARY_OPS(TDC_ENUM_ENTRY) kBinaryOpCount };
enum UnaryOp { TDC_UNARY_OPS(TDC_ENUM_ENTRY) kUnaryOpCount };
#undef TDC_ENUM_ENTRY

inline int32_t toBits(float f) {
  int32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
inline float fromBits(int32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

template <int OP>
inline float apply(float x, float y) {
  if (OP == kAdd) return x + y;
  if (OP == kSub) return x - y;
  if (OP == kMul) return x * y;
  if (OP == kDiv) return x / y;
  if (OP == kMax) return (x != x || y != y) ? x + y : (x > y ? x : y);  // NaN propagates, as tfjs
  if (OP == kMin) return (x != x || y != y) ? x + y : (x < y ? x : y);
  // x = dy, y = the relu's input: dy · step(y), NaN inputs staying NaN as in tfjs's mul(dy, step(y)). The NaN pass
  // is a bit-mask blend: GCC leaves `y != y ? y : x·s` as a branch and the loop scalar (7.0 vs 3.6 ms for 8.4M
  // elements, one thread), and the branchy form of the step mispredicts on a relu's half-zero inputs.
  // The step is a mask too: GCC turns `x · (y > 0 ? 1 : 0)` back into a branch.
  const int32_t pos = -static_cast<int32_t>(y > 0.f);
  const float r = x * fromBits(0x3f800000 & pos);  // 1.0f where y > 0, else +0
  const int32_t nan = -static_cast<int32_t>(y != y);
  return fromBits((toBits(y) & nan) | (toBits(r) & ~nan));
}

// out[i] = a[i mod na] op b[i mod nb], where na, nb divide n: same shapes, scalars and trailing-axes
// broadcasting ([B, H, W, C] op [C]) — what the JS side checks before calling.
template <int OP>
void binaryLoop(const float *a, int64_t na, const float *b, int64_t nb, float *out, int64_t n, bool repeat) {
  if (repeat && na != nb) {
    // The smaller side broadcasts over trailing axes ([N, K] op [N, 1]): its element j covers out[j·r, (j+1)·r).
    const bool bSmall = nb < na;
    const int64_t rows = bSmall ? nb : na;
    const int64_t r = n / rows;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t j = 0; j < rows; j++) {
      float *o = out + j * r;
      if (bSmall) {
        const float c = b[j];
        const float *x = a + j * r;
#pragma omp simd
        for (int64_t i = 0; i < r; i++) o[i] = apply<OP>(x[i], c);
      } else {
        const float c = a[j];
        const float *y = b + j * r;
#pragma omp simd
        for (int64_t i = 0; i < r; i++) o[i] = apply<OP>(c, y[i]);
      }
    }
    return;
  }
  if (na == n && nb == n) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
    for (int64_t i = 0; i < n; i++) out[i] = apply<OP>(a[i], b[i]);
  } else if (nb == 1 || na == 1) {
    // One loop per side: with the side chosen inside, GCC keeps the loop scalar.
    if (nb == 1) {
      const float c = b[0];
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
      for (int64_t i = 0; i < n; i++) out[i] = apply<OP>(a[i], c);
    } else {
      const float c = a[0];
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
      for (int64_t i = 0; i < n; i++) out[i] = apply<OP>(c, b[i]);
    }
  } else {
    const int64_t inner = na < nb ? na : nb;
    const bool bSmall = nb < na;
    const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t r = 0; r < rows; r++) {
      float *o = out + r * inner;
      if (bSmall) {
        const float *x = a + r * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) o[i] = apply<OP>(x[i], b[i]);
      } else {
        const float *y = b + r * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) o[i] = apply<OP>(a[i], y[i]);
      }
    }
  }
}

// Calls f(std::integral_constant<int, OP>{}) for the binary op id `op`: the one list of the ops binary() and
// binaryStrided() run, each loop instantiated per op.
template <typename F>
void withBinaryOp(int op, F &&f) {
  switch (op) {
    case kAdd: f(std::integral_constant<int, kAdd>{}); break;
    case kSub: f(std::integral_constant<int, kSub>{}); break;
    case kMul: f(std::integral_constant<int, kMul>{}); break;
    case kDiv: f(std::integral_constant<int, kDiv>{}); break;
    case kMax: f(std::integral_constant<int, kMax>{}); break;
    case kMin: f(std::integral_constant<int, kMin>{}); break;
    case kReluGrad: f(std::integral_constant<int, kReluGrad>{}); break;
    default: throw JsError{"tdc_native: unknown binary op"};
  }
}

// binary(op, a, b, out, repeat): repeat = 0 broadcasts the smaller side cyclically (trailing-axes block),
// 1 repeats each of its elements over a run (leading-axes block).
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 5);
    const bool repeat = i32(env, a[4]) != 0;
    const int op = i32(env, a[0]);
    size_t na, nb, n;
    float *x = typed<float>(env, a[1], napi_float32_array, &na);
    float *y = typed<float>(env, a[2], napi_float32_array, &nb);
    float *out = typed<float>(env, a[3], napi_float32_array, &n);
    const int64_t N = n, NA = na, NB = nb;
    if (NA == 0 || NB == 0 || N % NA || N % NB || (NA != N && NB != N && NA != 1 && NB != 1)) throw JsError{"tdc_native: binary shapes"};
    withBinaryOp(op, [&](auto o) { binaryLoop<decltype(o)::value>(x, NA, y, NB, out, N, repeat); });
    return undef(env);
  });
}

// out[i] = a[offA(i)] op b[offB(i)] over the box `shape`, with per-axis strides (0 on a broadcast axis): the
// per-axis broadcasting binaryLoop does not cover ([2, 1, C] op [2, M, C], a mean's gradient [B, 1, 1, C] op
// [B, H, W, C]). The JS side merges axes first, so rank is small and the last axis is the longest run it can make.
template <int OP>
void stridedLoop(const float *a, const float *b, float *out, int rank, const int32_t *shape, const int32_t *sa, const int32_t *sb) {
  int64_t outer = 1;
  for (int d = 0; d < rank - 1; d++) outer *= shape[d];
  const int64_t inner = shape[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1];
#pragma omp parallel for schedule(static) if (outer * inner >= kParallelMin)
  for (int64_t o = 0; o < outer; o++) {
    int64_t rem = o, offA = 0, offB = 0;
    for (int d = rank - 2; d >= 0; d--) {
      const int64_t i = rem % shape[d];
      rem /= shape[d];
      offA += i * sa[d];
      offB += i * sb[d];
    }
    const float *x = a + offA, *y = b + offB;
    float *t = out + o * inner;
    if (ia == 1 && ib == 1) {
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) t[i] = apply<OP>(x[i], y[i]);
    } else if (ia == 0 && ib == 1) {
      const float c = x[0];
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) t[i] = apply<OP>(c, y[i]);
    } else if (ia == 1 && ib == 0) {
      const float c = y[0];
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) t[i] = apply<OP>(x[i], c);
    } else {
      for (int64_t i = 0; i < inner; i++) t[i] = apply<OP>(x[i * ia], y[i * ib]);
    }
  }
}

// binaryStrided(op, a, b, out, [rank, shape[rank], aStrides[rank], bStrides[rank]]): out is the dense box `shape`.
napi_value BinaryStrided(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 5);
    const int op = i32(env, a[0]);
    size_t na, nb, n, plen;
    float *x = typed<float>(env, a[1], napi_float32_array, &na);
    float *y = typed<float>(env, a[2], napi_float32_array, &nb);
    float *out = typed<float>(env, a[3], napi_float32_array, &n);
    int32_t *p = typed<int32_t>(env, a[4], napi_int32_array, &plen);
    if (plen < 1) throw JsError{"tdc_native: bad binary params"};
    const int rank = p[0];
    if (rank < 1 || plen != static_cast<size_t>(1 + 3 * rank)) throw JsError{"tdc_native: bad binary params"};
    const int32_t *shape = p + 1, *sa = p + 1 + rank, *sb = p + 1 + 2 * rank;
    // Bounds: the output is the dense box; each input's last offset must lie inside it (strides are ≥ 0).
    int64_t total = 1, hiA = 0, hiB = 0;
    for (int d = 0; d < rank; d++) {
      if (shape[d] < 1 || sa[d] < 0 || sb[d] < 0) throw JsError{"tdc_native: bad binary params"};
      total *= shape[d];
      hiA += static_cast<int64_t>(shape[d] - 1) * sa[d];
      hiB += static_cast<int64_t>(shape[d] - 1) * sb[d];
    }
    if (total != static_cast<int64_t>(n) || hiA >= static_cast<int64_t>(na) || hiB >= static_cast<int64_t>(nb)) throw JsError{"tdc_native: binary shapes"};
    withBinaryOp(op, [&](auto o) { stridedLoop<decltype(o)::value>(x, y, out, rank, shape, sa, sb); });
    return undef(env);
  });
}

// unary(op, x, out, alpha): relu (NaN stays NaN), step (x > 0 ? 1 : alpha, NaN stays NaN), neg, relu6, exp.
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 4);
    const int op = i32(env, a[0]);
    size_t n, m;
    float *x = typed<float>(env, a[1], napi_float32_array, &n);
    float *out = typed<float>(env, a[2], napi_float32_array, &m);
    double alphaD;
    NAPI_OK(napi_get_value_double(env, a[3], &alphaD));
    const float alpha = static_cast<float>(alphaD);
    if (m != n) throw JsError{"tdc_native: unary sizes"};
    const int64_t N = n;
    switch (op) {
      case kRelu:
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
        for (int64_t i = 0; i < N; i++) out[i] = x[i] < 0.f ? 0.f : x[i];
        break;
      case kStep:
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
        for (int64_t i = 0; i < N; i++) out[i] = x[i] != x[i] ? x[i] : (x[i] > 0.f ? 1.f : alpha);
        break;
      case kNeg:
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
        for (int64_t i = 0; i < N; i++) out[i] = -x[i];
        break;
      case kRelu6:
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
        for (int64_t i = 0; i < N; i++) out[i] = x[i] < 0.f ? 0.f : (x[i] > 6.f ? 6.f : x[i]);
        break;
      case kExp:
        // In double, then rounded: the same float32 tfjs gets from Math.exp.
#pragma omp parallel for schedule(static) if (N >= kParallelMin)
        for (int64_t i = 0; i < N; i++) out[i] = static_cast<float>(std::exp(static_cast<double>(x[i])));
        break;
      default:
        throw JsError{"tdc_native: unknown unary op"};
    }
    return undef(env);
  });
}

// reduceSum(x, out, [outer, mid, inner], scale): out[o, i] = scale · Σ_m x[o, m, i] (sums in double, so long
// reductions do not lose float32 precision).
napi_value ReduceSum(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 4);
    size_t n, m, plen;
    float *x = typed<float>(env, a[0], napi_float32_array, &n);
    float *out = typed<float>(env, a[1], napi_float32_array, &m);
    int32_t *p = typed<int32_t>(env, a[2], napi_int32_array, &plen);
    double scale;
    NAPI_OK(napi_get_value_double(env, a[3], &scale));
    if (plen != 3) throw JsError{"tdc_native: bad reduce params"};
    const int64_t outer = p[0], mid = p[1], inner = p[2];
    if (static_cast<int64_t>(n) != outer * mid * inner || static_cast<int64_t>(m) != outer * inner) throw JsError{"tdc_native: reduce sizes"};
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(n) >= kParallelMin)
      for (int64_t o = 0; o < outer; o++) {
        const float *r = x + o * mid;
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t k = 0; k < mid; k++) acc += r[k];
        out[o] = static_cast<float>(acc * scale);
      }
      return undef(env);
    }
    // Columns: split the reduced axis across threads, each with its own double accumulator row.
    const int threads = (static_cast<int64_t>(n) >= kParallelMin) ? threadsSetting() : 1;
    std::vector<double> acc(static_cast<size_t>(threads) * outer * inner, 0.0);
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      double *mine = acc.data() + static_cast<size_t>(t) * outer * inner;
      for (int64_t o = 0; o < outer; o++) {
        double *row = mine + o * inner;
#pragma omp for schedule(static) nowait
        for (int64_t k = 0; k < mid; k++) {
          const float *r = x + (o * mid + k) * inner;
#pragma omp simd
          for (int64_t i = 0; i < inner; i++) row[i] += r[i];
        }
      }
    }
    for (int64_t j = 0; j < outer * inner; j++) {
      double s = 0;
      for (int t = 0; t < threads; t++) s += acc[static_cast<size_t>(t) * outer * inner + j];
      out[j] = static_cast<float>(s * scale);
    }
    return undef(env);
  });
}

// reduceMax(x, out, [outer, mid, inner]): out[o, i] = max_m x[o, m, i]; a NaN wins, as in tfjs.
napi_value ReduceMax(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 3);
    size_t n, m, plen;
    float *x = typed<float>(env, a[0], napi_float32_array, &n);
    float *out = typed<float>(env, a[1], napi_float32_array, &m);
    int32_t *p = typed<int32_t>(env, a[2], napi_int32_array, &plen);
    if (plen != 3) throw JsError{"tdc_native: bad reduce params"};
    const int64_t outer = p[0], mid = p[1], inner = p[2];
    if (mid < 1 || static_cast<int64_t>(n) != outer * mid * inner || static_cast<int64_t>(m) != outer * inner) throw JsError{"tdc_native: reduce sizes"};
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(n) >= kParallelMin)
    for (int64_t o = 0; o < outer; o++) {
      float *row = out + o * inner;
      std::memcpy(row, x + o * mid * inner, sizeof(float) * static_cast<size_t>(inner));
      for (int64_t k = 1; k < mid; k++) {
        const float *r = x + (o * mid + k) * inner;
        for (int64_t i = 0; i < inner; i++) row[i] = (r[i] > row[i] || r[i] != r[i]) ? r[i] : row[i];
      }
    }
    return undef(env);
  });
}

// sgdUpdate(ws, gs, bufs | null, lr, momentum, weightDecay, nesterov): one SGD step of runtime/train/optimizers.ts's
// Sgd (torch.optim.SGD, dampening 0) in place for every variable of a step (ws[k] with gradient gs[k] and momentum
// buffer bufs[k]; bufs given exactly when momentum > 0): one pass over w, g and buf where its tf ops take ~6, each
// into a fresh array. The same float32 operations in the same order, constants rounded to float32 as tf.mul(t, x)
// rounds them, so the result is the ops' bit for bit:
//   d = g + w·wd (wd > 0);  buf = buf·m + d, d = nesterov ? d + buf·m : buf (m > 0);  w = w − d·lr.
// All variables share one parallel region, split into equal chunks (a step has ~70 variables of 10² to 10⁶
// elements: one region each would pay ~70 barriers, or leave all but the largest on one thread). Only the JS side
// knows that w and buf are not shared with another tensor (refCount 1) and that g is neither.
napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 7);
    double lrD, mD, wdD;
    NAPI_OK(napi_get_value_double(env, a[3], &lrD));
    NAPI_OK(napi_get_value_double(env, a[4], &mD));
    NAPI_OK(napi_get_value_double(env, a[5], &wdD));
    const bool nesterov = i32(env, a[6]) != 0;
    const float lr = static_cast<float>(lrD), m = static_cast<float>(mD), wd = static_cast<float>(wdD);
    const bool decay = wdD > 0, momentum = mD > 0;
    if (isNullish(env, a[2]) == momentum) throw JsError{"tdc_native: sgdUpdate takes momentum buffers exactly when momentum > 0"};
    uint32_t count, gCount, bCount = 0;
    NAPI_OK(napi_get_array_length(env, a[0], &count));
    NAPI_OK(napi_get_array_length(env, a[1], &gCount));
    if (momentum) NAPI_OK(napi_get_array_length(env, a[2], &bCount));
    if (gCount != count || (momentum && bCount != count)) throw JsError{"tdc_native: sgdUpdate lists differ in length"};
    struct Chunk {
      float *w, *g, *buf;
      int64_t n;
    };
    constexpr int64_t kChunk = 1 << 16;
    std::vector<Chunk> chunks;
    int64_t total = 0;
    for (uint32_t k = 0; k < count; k++) {
      napi_value wv, gv, bv;
      NAPI_OK(napi_get_element(env, a[0], k, &wv));
      NAPI_OK(napi_get_element(env, a[1], k, &gv));
      size_t n, gn, bn = 0;
      float *w = typed<float>(env, wv, napi_float32_array, &n);
      float *g = typed<float>(env, gv, napi_float32_array, &gn);
      float *buf = nullptr;
      if (momentum) {
        NAPI_OK(napi_get_element(env, a[2], k, &bv));
        buf = typed<float>(env, bv, napi_float32_array, &bn);
      }
      if (gn != n || (momentum && bn != n)) throw JsError{"tdc_native: sgdUpdate sizes differ"};
      for (int64_t at = 0; at < static_cast<int64_t>(n); at += kChunk)
        chunks.push_back({w + at, g + at, buf ? buf + at : nullptr, std::min<int64_t>(kChunk, static_cast<int64_t>(n) - at)});
      total += static_cast<int64_t>(n);
    }
    const int64_t C = static_cast<int64_t>(chunks.size());
    // One loop per case, each branch-free (vectorized).
#define TDC_SGD_LOOP(BODY)                                         \
  _Pragma("omp parallel for schedule(static) if (total >= kParallelMin)") \
  for (int64_t c = 0; c < C; c++) {                                \
    float *w = chunks[c].w, *g = chunks[c].g, *buf = chunks[c].buf; \
    (void)buf;                                                     \
    const int64_t N = chunks[c].n;                                 \
    _Pragma("omp simd")                                            \
    for (int64_t i = 0; i < N; i++) {                              \
      BODY                                                         \
    }                                                              \
  }
    if (!momentum) {
      if (decay) TDC_SGD_LOOP(const float d = g[i] + w[i] * wd; w[i] = w[i] - d * lr;)
      else TDC_SGD_LOOP(w[i] = w[i] - g[i] * lr;)
    } else if (nesterov) {
      if (decay) TDC_SGD_LOOP(const float d = g[i] + w[i] * wd; const float b = buf[i] * m + d; buf[i] = b; w[i] = w[i] - (d + b * m) * lr;)
      else TDC_SGD_LOOP(const float d = g[i]; const float b = buf[i] * m + d; buf[i] = b; w[i] = w[i] - (d + b * m) * lr;)
    } else {
      if (decay) TDC_SGD_LOOP(const float d = g[i] + w[i] * wd; const float b = buf[i] * m + d; buf[i] = b; w[i] = w[i] - b * lr;)
      else TDC_SGD_LOOP(const float b = buf[i] * m + g[i]; buf[i] = b; w[i] = w[i] - b * lr;)
    }
#undef TDC_SGD_LOOP
    return undef(env);
  });
}

// resizeBilinear(x, y, [B, H, W, C, outH, outW, halfPixelCenters], rowRatio, colRatio): NHWC bilinear resize with
// tfjs's cpu kernel's arithmetic (source coordinate ratio·i, or ratio·(i + ½) − ½, clamped; the lerps in double,
// rounded once into y), so y is that kernel's output bit for bit. The stock kernel is a JS loop: 15 ms for the
// ROBOT18 seg head's [2, 16, 20, 12] → [2, 256, 320, 12].
napi_value ResizeBilinear(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 5);
    const int32_t *p = intParams(env, a[2], 7, "resize");
    const int64_t B = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5];
    const bool half = p[6] != 0;
    if (B < 0 || H < 1 || W < 1 || C < 0 || OH < 0 || OW < 0) throw JsError{"tdc_native: bad resize params"};
    double rowRatio, colRatio;
    NAPI_OK(napi_get_value_double(env, a[3], &rowRatio));
    NAPI_OK(napi_get_value_double(env, a[4], &colRatio));
    const float *x = f32(env, a[0], static_cast<size_t>(B * H * W * C));
    float *y = f32(env, a[1], static_cast<size_t>(B * OH * OW * C));
    struct Tap {
      int64_t lo, hi;
      double frac;
    };
    auto taps = [&](int64_t n, int64_t in, double ratio) {
      std::vector<Tap> t(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; i++) {
        const double src = half ? ratio * (static_cast<double>(i) + 0.5) - 0.5 : ratio * static_cast<double>(i);
        const double lo = std::max(0.0, std::floor(src));
        t[i] = {static_cast<int64_t>(lo), std::min(in - 1, static_cast<int64_t>(std::ceil(src))), src - lo};
      }
      return t;
    };
    const std::vector<Tap> rows = taps(OH, H, rowRatio), cols = taps(OW, W, colRatio);
#pragma omp parallel for schedule(static) if (B * OH * OW * C >= kParallelMin)
    for (int64_t br = 0; br < B * OH; br++) {
      const int64_t b = br / OH;
      const Tap &r = rows[br % OH];
      const float *top = x + (b * H + r.lo) * W * C, *bot = x + (b * H + r.hi) * W * C;
      float *o = y + br * OW * C;
      for (int64_t c = 0; c < OW; c++) {
        const Tap &q = cols[c];
        const float *tl = top + q.lo * C, *tr = top + q.hi * C, *bl = bot + q.lo * C, *bri = bot + q.hi * C;
        for (int64_t d = 0; d < C; d++) {
          const double t = tl[d] + (static_cast<double>(tr[d]) - tl[d]) * q.frac;
          const double u = bl[d] + (static_cast<double>(bri[d]) - bl[d]) * q.frac;
          o[c * C + d] = static_cast<float>(t + (u - t) * r.frac);
        }
      }
    }
    return undef(env);
  });
}

// ---------------------------------------------------------------------------------------------- batch norm
//
// Training-mode batch normalization over a channels-last map viewed as [M, C] (M = every position of every batch
// item). tfjs runs it as moments → sub → mul → add forward and about ten elementwise passes plus two reductions
// backward, each a full pass over a map that is ~100 MB per BRATS conv; here it is two passes each way.

// Per-channel sums over the rows of [M, C] arrays, split across threads: each thread adds its share of the rows into
// its own double accumulators (`width` per channel, padded to a cache line so threads never share one), and the
// partial sums are added up in thread order afterwards. `row(m, acc)` adds row m into acc[0 .. width·C).
template <typename Row>
std::vector<double> channelSums(int64_t M, int64_t C, int width, bool big, Row row) {
  const int threads = big ? threadsSetting() : 1;
  const int64_t stride = (width * C + 7) / 8 * 8;
  std::vector<double> acc(static_cast<size_t>(threads * stride), 0.0);
#pragma omp parallel num_threads(threads)
  {
    double *mine = acc.data() + static_cast<size_t>(omp_get_thread_num()) * stride;
#pragma omp for schedule(static)
    for (int64_t m = 0; m < M; m++) row(m, mine);
  }
  std::vector<double> out(static_cast<size_t>(width * C), 0.0);
  for (int t = 0; t < threads; t++)
    for (int64_t j = 0; j < width * C; j++) out[j] += acc[static_cast<size_t>(t * stride + j)];
  return out;
}

// A channels-last map of n elements as [M, C] rows, C from a per-channel vector's length.
struct Rows {
  int64_t M, C;
};
Rows rowsOf(size_t n, size_t c) {
  if (c == 0 || n % c) throw JsError{"tdc_native: batch norm sizes"};
  return {static_cast<int64_t>(n / c), static_cast<int64_t>(c)};
}

// y = (x − mean)·scale + beta per channel over [M, C] rows, in float32 and in this order, as tfjs's sub → mul → add
// (x − mean first: exact enough for any mean).
void affineRows(const float *x, const float *mean, const float *scale, const float *beta, float *y, Rows r) {
  const int64_t C = r.C;
#pragma omp parallel for schedule(static) if (r.M * C >= kParallelMin)
  for (int64_t m = 0; m < r.M; m++) {
    const float *xr = x + m * C;
    float *o = y + m * C;
#pragma omp simd
    for (int64_t j = 0; j < C; j++) o[j] = (xr[j] - mean[j]) * scale[j] + beta[j];
  }
}

// batchNormTrain(x, gamma, beta, y, mean, variance, invstd, eps): x and y are [M, C], the rest [C]. Writes the
// batch mean, the biased variance, invstd = 1/√(variance + eps) and y = (x − mean)·(gamma·invstd) + beta.
// The statistics take one pass: sums of x − x[0, c] and of its square, in double. Shifting by a sample of the
// channel keeps Σd² − (Σd)²/M from cancelling when the mean is large next to the spread (values 1000 ± 1 give
// float32 garbage unshifted); the remaining error is that of double sums, ~1e-16·M relative.
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 8);
    size_t n, c;
    float *x = typed<float>(env, a[0], napi_float32_array, &n);
    float *gamma = typed<float>(env, a[1], napi_float32_array, &c);
    const Rows rows = rowsOf(n, c);
    const int64_t N = n, C = rows.C, M = rows.M;
    float *beta = f32(env, a[2], c);
    float *y = f32(env, a[3], n);
    float *mean = f32(env, a[4], c);
    float *variance = f32(env, a[5], c);
    float *invstd = f32(env, a[6], c);
    double eps;
    NAPI_OK(napi_get_value_double(env, a[7], &eps));
    const bool big = N >= kParallelMin;
    std::vector<double> shift(static_cast<size_t>(C), 0.0);
    if (M > 0)
      for (int64_t j = 0; j < C; j++) shift[j] = x[j];
    const double *k = shift.data();
    std::vector<double> s = channelSums(M, C, 2, big, [&](int64_t m, double *acc) {
      const float *r = x + m * C;
      double *s1 = acc, *s2 = acc + C;
#pragma omp simd
      for (int64_t j = 0; j < C; j++) {
        const double d = static_cast<double>(r[j]) - k[j];
        s1[j] += d;
        s2[j] += d * d;
      }
    });
    std::vector<float> scale(static_cast<size_t>(C));
    for (int64_t j = 0; j < C; j++) {
      const double d = s[j] / static_cast<double>(M);  // mean − shift; M = 0 gives NaN, as tfjs's mean of nothing
      const double v = std::max(0.0, s[C + j] / static_cast<double>(M) - d * d);
      mean[j] = static_cast<float>(k[j] + d);
      variance[j] = static_cast<float>(v);
      // From the float32 variance, as tf.rsqrt(variance + eps) computes it.
      invstd[j] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(variance[j]) + eps));
      scale[j] = gamma[j] * invstd[j];
    }
    affineRows(x, mean, scale.data(), beta, y, rows);
    return undef(env);
  });
}

// batchNormApply(x, mean, scale, beta, y): y = (x − mean)·scale + beta per channel, x and y [M, C], the rest [C];
// float32 and in this order, as the sub → mul → add it replaces (inference, frozen layers).
napi_value BatchNormApply(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 5);
    size_t n, c;
    float *x = typed<float>(env, a[0], napi_float32_array, &n);
    float *mean = typed<float>(env, a[1], napi_float32_array, &c);
    const Rows rows = rowsOf(n, c);
    affineRows(x, mean, f32(env, a[2], c), f32(env, a[3], c), f32(env, a[4], n), rows);
    return undef(env);
  });
}

// batchNormGrad(dy, x, mean, invstd, gamma, dx, dgamma, dbeta): the gradient of batchNormTrain's y given dy, with
// x̂ = (x − mean)·invstd: dβ = Σ dy, dγ = Σ dy·x̂, dx = gamma·invstd/M · (M·dy − dβ − x̂·dγ). One pass for both sums
// (double), one for dx, which is a per-channel affine function of dy and x − mean.
napi_value BatchNormGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 8);
    size_t n, c;
    float *dy = typed<float>(env, a[0], napi_float32_array, &n);
    float *mean = typed<float>(env, a[2], napi_float32_array, &c);
    const Rows rows = rowsOf(n, c);
    const int64_t N = n, C = rows.C, M = rows.M;
    float *x = f32(env, a[1], n);
    float *invstd = f32(env, a[3], c);
    float *gamma = f32(env, a[4], c);
    float *dx = f32(env, a[5], n);
    float *dgamma = f32(env, a[6], c);
    float *dbeta = f32(env, a[7], c);
    const bool big = N >= kParallelMin;
    std::vector<double> s = channelSums(M, C, 2, big, [&](int64_t m, double *acc) {
      const float *g = dy + m * C;
      const float *r = x + m * C;
      double *sd = acc, *sdx = acc + C;
#pragma omp simd
      for (int64_t j = 0; j < C; j++) {
        sd[j] += g[j];
        sdx[j] += static_cast<double>(g[j]) * static_cast<double>(r[j] - mean[j]);
      }
    });
    // dx = p·dy + q·(x − mean) + r per channel, with p = gamma·invstd, q = −p·invstd·dγ/M, r = −p·dβ/M.
    std::vector<float> coef(static_cast<size_t>(3 * C));
    float *p = coef.data(), *q = p + C, *r0 = q + C;
    for (int64_t j = 0; j < C; j++) {
      const double db = s[j], dg = s[C + j] * invstd[j];
      const double pj = static_cast<double>(gamma[j]) * invstd[j];
      dbeta[j] = static_cast<float>(db);
      dgamma[j] = static_cast<float>(dg);
      p[j] = static_cast<float>(pj);
      q[j] = static_cast<float>(-pj * invstd[j] * dg / static_cast<double>(M));
      r0[j] = static_cast<float>(-pj * db / static_cast<double>(M));
    }
#pragma omp parallel for schedule(static) if (big)
    for (int64_t m = 0; m < M; m++) {
      const float *g = dy + m * C;
      const float *xr = x + m * C;
      float *o = dx + m * C;
#pragma omp simd
      for (int64_t j = 0; j < C; j++) o[j] = p[j] * g[j] + q[j] * (xr[j] - mean[j]) + r0[j];
    }
    return undef(env);
  });
}

// Max pooling, NHWC and NDHWC (2D is D = 1). params [B, D, H, W, C, od, oh, ow, fd, fh, fw, sd, sh, sw,
// padFront, padTop, padLeft, lastWins].
struct PoolParams {
  int64_t B, D, H, W, C, od, oh, ow, fd, fh, fw, sd, sh, sw, pf, pt, pl;
  bool lastWins;
  static PoolParams decode(napi_env env, napi_value v) {
    size_t len;
    int32_t *p = typed<int32_t>(env, v, napi_int32_array, &len);
    if (len != 18) throw JsError{"tdc_native: bad pool params"};
    return {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16], p[17] != 0};
  }
  int64_t inSize() const { return B * D * H * W * C; }
  int64_t outSize() const { return B * od * oh * ow * C; }
};

// maxPool(x, y, params): padding taps are skipped (never win), as in tfjs.
napi_value MaxPool(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 3);
    PoolParams q = PoolParams::decode(env, a[2]);
    float *x = f32(env, a[0], static_cast<size_t>(q.inSize()));
    float *y = f32(env, a[1], static_cast<size_t>(q.outSize()));
    const int64_t rows = q.B * q.od * q.oh;
#pragma omp parallel for schedule(static) if (q.inSize() >= kParallelMin)
    for (int64_t row = 0; row < rows; row++) {
      const int64_t b = row / (q.od * q.oh), k = (row / q.oh) % q.od, i = row % q.oh;
      for (int64_t j = 0; j < q.ow; j++) {
        float *o = y + (row * q.ow + j) * q.C;
        for (int64_t c = 0; c < q.C; c++) o[c] = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t < q.fd; t++) {
          const int64_t z = k * q.sd - q.pf + t;
          if (z < 0 || z >= q.D) continue;
          for (int64_t u = 0; u < q.fh; u++) {
            const int64_t r = i * q.sh - q.pt + u;
            if (r < 0 || r >= q.H) continue;
            for (int64_t v = 0; v < q.fw; v++) {
              const int64_t s2 = j * q.sw - q.pl + v;
              if (s2 < 0 || s2 >= q.W) continue;
              const float *xi = x + (((b * q.D + z) * q.H + r) * q.W + s2) * q.C;
#pragma omp simd
              for (int64_t c = 0; c < q.C; c++) o[c] = xi[c] > o[c] ? xi[c] : o[c];
            }
          }
        }
      }
    }
    return undef(env);
  });
}

// maxPoolGrad(dy, x, dx, params): each dy goes to one tap holding its window's maximum — the first in row-major
// window order (tfjs's 2D MaxPoolGrad, `>`), or the last (its MaxPool3DGrad, `>=`: lastWins) — which matters
// after a relu, where windows of equal zeros are common.
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 4);
    PoolParams q = PoolParams::decode(env, a[3]);
    float *dy = f32(env, a[0], static_cast<size_t>(q.outSize()));
    float *x = f32(env, a[1], static_cast<size_t>(q.inSize()));
    float *dx = f32(env, a[2], static_cast<size_t>(q.inSize()));
    const bool big = q.inSize() >= kParallelMin;
    const bool apart = q.sd >= q.fd && q.sh >= q.fh && q.sw >= q.fw;
    // Windows that tile the input (stride = size, the last one reaching the end) write every position of dx below;
    // anything else starts from zeros (one more pass over dx).
    const bool tiled = apart && q.sd == q.fd && q.sh == q.fh && q.sw == q.fw && q.od * q.sd - q.pf >= q.D &&
                       q.oh * q.sh - q.pt >= q.H && q.ow * q.sw - q.pl >= q.W;
    if (!tiled) std::memset(dx, 0, sizeof(float) * static_cast<size_t>(q.inSize()));
    if (apart) {
      // Windows that never overlap (the 2×2 / 2 pools of the paper's encoders): each input position belongs to at
      // most one window, so threads split the output rows, and each window is done branch-free over its channels
      // (vectorized; the compare-and-branch form mispredicts on post-relu data): the winning tap per channel, then
      // every tap's slice of dx written once (0 + dy at the winner, as the += into zeros below gives).
      const int64_t rows = q.B * q.od * q.oh;
      const int64_t C = q.C;
#pragma omp parallel if (big)
      {
        std::vector<int32_t> bestT(static_cast<size_t>(C));
        std::vector<float> bestV(static_cast<size_t>(C));
        std::vector<int64_t> taps(static_cast<size_t>(q.fd * q.fh * q.fw));
        int32_t *bt = bestT.data();
        float *bv = bestV.data();
#pragma omp for schedule(static)
        for (int64_t row = 0; row < rows; row++) {
          const int64_t b = row / (q.od * q.oh), k = (row / q.oh) % q.od, i = row % q.oh;
          for (int64_t j = 0; j < q.ow; j++) {
            int32_t nt = 0;
            for (int64_t t = 0; t < q.fd; t++) {
              const int64_t z = k * q.sd - q.pf + t;
              if (z < 0 || z >= q.D) continue;
              for (int64_t u = 0; u < q.fh; u++) {
                const int64_t r = i * q.sh - q.pt + u;
                if (r < 0 || r >= q.H) continue;
                for (int64_t v = 0; v < q.fw; v++) {
                  const int64_t s2 = j * q.sw - q.pl + v;
                  if (s2 < 0 || s2 >= q.W) continue;
                  taps[static_cast<size_t>(nt++)] = (((b * q.D + z) * q.H + r) * q.W + s2) * C;
                }
              }
            }
            for (int64_t c = 0; c < C; c++) {
              bt[c] = -1;
              bv[c] = -std::numeric_limits<float>::infinity();
            }
            for (int32_t t = 0; t < nt; t++) {
              const float *xi = x + taps[static_cast<size_t>(t)];
              if (q.lastWins) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                  const float xv = xi[c], cur = bv[c];
                  const int32_t ct = bt[c];
                  // xv >= cur, spelt so that GCC vectorizes it (as `>=` it keeps a branch)
                  const bool take = (xv > cur) | (xv == cur);
                  const int32_t m = -static_cast<int32_t>(take);
                  bt[c] = (t & m) | (ct & ~m);
                  bv[c] = take ? xv : cur;
                }
              } else {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                  const float xv = xi[c], cur = bv[c];
                  const int32_t ct = bt[c];
                  const bool take = (ct < 0) | (xv > cur);
                  bv[c] = take ? xv : cur;
                  bt[c] = take ? t : ct;
                }
              }
            }
            const float *g = dy + (row * q.ow + j) * C;
            for (int32_t t = 0; t < nt; t++) {
              float *o = dx + taps[static_cast<size_t>(t)];
#pragma omp simd
              for (int64_t c = 0; c < C; c++) {
                // bt[c] == t ? 0 + g[c] : +0, as a bit mask (the select form is not vectorized)
                const float gv = 0.f + g[c];
                int32_t bits;
                std::memcpy(&bits, &gv, sizeof bits);
                bits &= -static_cast<int32_t>(bt[c] == t);
                std::memcpy(o + c, &bits, sizeof bits);
              }
            }
          }
        }
      }
      return undef(env);
    }
    // Windows may overlap (stride < size), so threads split the channels, never the positions.
#pragma omp parallel if (big)
    {
      const int nt = omp_get_num_threads(), th = omp_get_thread_num();
      const int64_t c0 = q.C * th / nt, c1 = q.C * (th + 1) / nt, nc = c1 - c0;
      std::vector<int64_t> best(static_cast<size_t>(nc));
      std::vector<float> bestV(static_cast<size_t>(nc));
      for (int64_t b = 0; b < q.B; b++)
        for (int64_t k = 0; k < q.od; k++)
          for (int64_t i = 0; i < q.oh; i++)
            for (int64_t j = 0; j < q.ow; j++) {
              std::fill(best.begin(), best.end(), -1);
              std::fill(bestV.begin(), bestV.end(), -std::numeric_limits<float>::infinity());
              for (int64_t t = 0; t < q.fd; t++) {
                const int64_t z = k * q.sd - q.pf + t;
                if (z < 0 || z >= q.D) continue;
                for (int64_t u = 0; u < q.fh; u++) {
                  const int64_t r = i * q.sh - q.pt + u;
                  if (r < 0 || r >= q.H) continue;
                  for (int64_t v = 0; v < q.fw; v++) {
                    const int64_t s2 = j * q.sw - q.pl + v;
                    if (s2 < 0 || s2 >= q.W) continue;
                    const int64_t base = (((b * q.D + z) * q.H + r) * q.W + s2) * q.C + c0;
                    const float *xi = x + base;
                    if (q.lastWins) {
                      for (int64_t c = 0; c < nc; c++)
                        if (xi[c] >= bestV[c]) {
                          bestV[c] = xi[c];
                          best[c] = base + c;
                        }
                    } else {
                      for (int64_t c = 0; c < nc; c++)
                        if (best[c] < 0 || xi[c] > bestV[c]) {
                          bestV[c] = xi[c];
                          best[c] = base + c;
                        }
                    }
                  }
                }
              }
              const float *g = dy + (((b * q.od + k) * q.oh + i) * q.ow + j) * q.C + c0;
              for (int64_t c = 0; c < nc; c++)
                if (best[c] >= 0) dx[best[c]] += g[c];
            }
    }
    return undef(env);
  });
}

// ---------------------------------------------------------------------------------------------- info

napi_value Threads(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, threadsSetting(), &out);
  return out;
}

// weightsPaths(): {nhwc, blocked, taps}, the backward-weights calls that took each path (see weightsPath).
napi_value WeightsPaths(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value out;
    NAPI_OK(napi_create_object(env, &out));
    const char *names[] = {"nhwc", "blocked", "taps"};
    for (int i = 0; i < 3; i++) {
      napi_value v;
      NAPI_OK(napi_create_double(env, static_cast<double>(weightsPathCalls[i]), &v));
      NAPI_OK(napi_set_named_property(env, out, names[i], v));
    }
    return out;
  });
}

napi_value Version(napi_env env, napi_callback_info) {
  const dnnl_version_t *v = dnnl_version();
  std::string s = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  napi_value out;
  napi_create_string_utf8(env, s.c_str(), s.size(), &out);
  return out;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 1);
    int n = i32(env, a[0]);
    if (n < 1) throw JsError{"tdc_native: threads must be >= 1"};
    threadsSetting() = n;
    omp_set_num_threads(n);
    return undef(env);
  });
}

// { name: id } for one of the op lists above.
napi_value opTable(napi_env env, const std::vector<std::pair<const char *, int>> &ops) {
  napi_value obj;
  napi_create_object(env, &obj);
  for (const auto &[name, id] : ops) {
    napi_value v;
    napi_create_int32(env, id, &v);
    napi_set_named_property(env, obj, name, v);
  }
  return obj;
}

// ---------------------------------------------------------------------------------------------- output buffers

// madviseInside over a Float32Array's memory. Arrays whose memory is not page-backed anonymous memory just ignore the
// advice.
napi_value adviseInside(napi_env env, napi_callback_info info, uintptr_t unit, int advice) {
  return guarded(env, [&]() -> napi_value {
    auto a = args(env, info, 1);
    size_t n;
    float *p = typed<float>(env, a[0], napi_float32_array, &n);
    madviseInside(p, p + n, unit, advice);
    return undef(env);
  });
}

// adviseHuge(array): asks for transparent huge pages over the 2 MB-aligned part of a fresh (untouched) array.
// A kernel output is a new Float32Array whose pages the kernel then touches for the first time: with 4 KB pages that
// is one page fault per 4 KB (~35 ms per 100 MB, more than a pass over the data); with 2 MB pages, 512× fewer. The
// array stays V8's (freed by its GC as any other), so handing it to callers through dataSync() is as safe as before.
napi_value AdviseHuge(napi_env env, napi_callback_info info) {
  return adviseInside(env, info, uintptr_t{2} << 20, MADV_HUGEPAGE);
}

// adviseFree(array): gives the pages wholly inside an array that nothing will read again back to the OS now
// (MADV_DONTNEED), instead of when V8 collects it: the buffer pool's dropped arrays (buffer-pool.ts). The array stays
// valid (its pages read as zeros if touched).
napi_value AdviseFree(napi_env env, napi_callback_info info) {
  return adviseInside(env, info, static_cast<uintptr_t>(sysconf(_SC_PAGESIZE)), MADV_DONTNEED);
}

napi_value Init(napi_env env, napi_value exports) {
#define TDC_PAIR(id, name) {name, id},
  napi_set_named_property(env, exports, "binaryOps", opTable(env, {TDC_BINARY_OPS(TDC_PAIR)}));
  napi_set_named_property(env, exports, "unaryOps", opTable(env, {TDC_UNARY_OPS(TDC_PAIR)}));
#undef TDC_PAIR
  const napi_property_descriptor props[] = {
      {"adviseHuge", nullptr, AdviseHuge, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adviseFree", nullptr, AdviseFree, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convForward", nullptr, ConvForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convBackwardData", nullptr, ConvBackwardData, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convBackwardDataByForward", nullptr, ConvBackwardDataByForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convBackwardWeights", nullptr, ConvBackwardWeights, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchMatMul", nullptr, BatchMatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stridedCopy", nullptr, StridedCopy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fill", nullptr, Fill, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binaryStrided", nullptr, BinaryStrided, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduceSum", nullptr, ReduceSum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduceMax", nullptr, ReduceMax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPool", nullptr, MaxPool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"resizeBilinear", nullptr, ResizeBilinear, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgdUpdate", nullptr, SgdUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormTrain", nullptr, BatchNormTrain, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormGrad", nullptr, BatchNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormApply", nullptr, BatchNormApply, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"weightsPaths", nullptr, WeightsPaths, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
