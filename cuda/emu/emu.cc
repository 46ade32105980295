// The fiber scheduler behind the CUDA host emulation (see emu.h for the model).
//
// Per OS thread, a pool of fibers: each an execution context (see Context below) with its own mmap'd
// 64 KiB stack under a guard page, made once and then reused by every block and launch. A fiber runs an endless loop:
// run the kernel for the thread it is bound to, report that thread done, take the next one.
//
// Threads (Slots) and fibers are separate: a thread is bound to a fiber only when it starts, and stays
// bound until it returns. The runnable threads of a block form a FIFO queue, initially every thread in
// order. When a thread returns and the head of the queue has not started yet, the same fiber runs it in
// place, with no context switch at all, so a kernel that never synchronises runs a whole block on one
// fiber. A thread that blocks at a barrier switches straight to the head of the queue (its fiber, or a
// parked one for a thread that has not started): one swapcontext per block-and-resume. The launcher's
// context only regains control when the queue runs dry: all threads done (next block), or deadlock.
//
// Barriers release eagerly, when the last thread they wait for arrives or returns; under the forward
// schedule the releasing thread carries on without a switch, under the others it queues with the
// released threads in the schedule's order and switches to the head of the queue. Warp primitives are computed for the whole group by that last lane, each
// lane's answer stored in its own slot, so a lane that races ahead to the next primitive cannot clobber
// a value another lane has yet to read (what a second "read done" warp barrier would otherwise ensure).
//
// Exceptions never cross a fiber's stack boundary: the fiber loop catches everything, records it in the
// launch and switches to the launcher, which rebuilds the fibers abandoned mid-kernel (makecontext
// again; their C++ locals are not destroyed) and rethrows.
#include "emu/emu.h"

#include <pthread.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define CK_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CK_EMU_ASAN 1
#endif
#endif
#if defined(CK_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace ck {
namespace emu {
namespace detail {

namespace {
ThreadView g_no_thread = {{0, 0, 0}, {}, 0};
LaunchView g_no_launch = {{0, 0, 0}, dim3(0, 0, 0), dim3(0, 0, 0), nullptr, 0, 0, false};
}  // namespace

__thread ThreadView* tls_thread = &g_no_thread;
__thread LaunchView* tls_launch = &g_no_launch;

namespace {

#if defined(CK_EMU_ASAN)
constexpr size_t kStackBytes = 256 * 1024;  // instrumented frames carry redzones
#else
constexpr size_t kStackBytes = 64 * 1024;
#endif
constexpr unsigned kMaxThreads = 1024;
constexpr unsigned kWarp = 32;
constexpr uint64_t kPoison = ~uint64_t(0);
constexpr uint16_t kNoThread = 0xFFFF;

// ---- process-wide settings ------------------------------------------------------------------------------
struct Settings {
  std::atomic<uint8_t> kind{static_cast<uint8_t>(ScheduleKind::Forward)};
  std::atomic<uint64_t> seed{1};
  std::atomic<bool> checks{true};
  std::atomic<uint64_t> launches{0};  // ordinal of the next launch (random schedule's PRNG stream)
  std::atomic<bool> env_bad{false};   // a bad CONVKIT_EMU_SCHEDULE, reported at every launch until set_schedule
  std::string env_error;              // written once, before env_bad
};
Settings& settings() {
  static Settings* s = [] {
    Settings* r = new Settings;  // never destroyed: kernels may launch during static destruction
    if (const char* v = std::getenv("CONVKIT_EMU_SCHEDULE")) {
      if (*v) {
        try {
          Schedule sc = parse_schedule(v);
          r->kind = static_cast<uint8_t>(sc.kind);
          r->seed = sc.seed;
        } catch (const ck::Error& e) {
          r->env_error = std::string("CONVKIT_EMU_SCHEDULE: ") + e.what();
          r->env_bad = true;
        }
      }
    }
    if (const char* v = std::getenv("CONVKIT_EMU_CHECKS")) r->checks = std::strcmp(v, "0") != 0;
    return r;
  }();
  return *s;
}

inline uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

enum class State : uint8_t { Runnable, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber;

// One emulated thread of the running block. Bound to a fiber from the moment it starts until it
// returns; a thread that has not started yet needs no fiber.
struct Slot : ThreadView {
  unsigned linear = 0, warp = 0, lane = 0;  // set per launch
  State state = State::Done;
  bool started = false;
  Fiber* fiber = nullptr;
  WarpOp op = WarpOp::Sync;
  BlockOp bop = BlockOp::Sync;
  int arg = 0, width = 32;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
};

// ---- execution contexts -------------------------------------------------------------------------------
// swapcontext saves and restores the signal mask with a system call on every switch (~370 ns here), which
// dominated emulated kernels that synchronise. On x86-64 a fiber switch only needs the callee-saved
// registers, the stack pointer and the FP control words, so it is done in a few instructions; other
// targets (or -DCK_EMU_UCONTEXT) keep ucontext.
#if defined(__x86_64__) && !defined(CK_EMU_UCONTEXT)
extern "C" void ck_emu_switch(void** save_sp, void* next_sp);
asm(R"(
  .text
  .globl ck_emu_switch
  .hidden ck_emu_switch
  .type ck_emu_switch,@function
ck_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ck_emu_switch,.-ck_emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

struct Context {
  void* sp = nullptr;
};
inline void ctx_switch(Context* from, Context* to) { ck_emu_switch(&from->sp, to->sp); }
// A fresh context that starts `entry` (which never returns) on the given stack.
inline void ctx_make(Context* c, unsigned char* stack, size_t bytes, void (*entry)()) {
  uint64_t* sp = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t(15));
  *--sp = 0;                                     // entry's return address: keeps the ABI's alignment
  *--sp = reinterpret_cast<uint64_t>(entry);     // where the switch's `ret` goes
  for (int i = 0; i < 6; ++i) *--sp = 0;         // rbp rbx r12 r13 r14 r15
  uint32_t mxcsr;
  uint16_t fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  --sp;
  std::memcpy(sp, &mxcsr, 4);
  std::memcpy(reinterpret_cast<char*>(sp) + 4, &fpucw, 2);
  c->sp = sp;
}
#else
struct Context {
  ucontext_t uc;
};
inline void ctx_switch(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
inline void ctx_make(Context* c, unsigned char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = bytes;
  c->uc.uc_stack.ss_flags = 0;
  c->uc.uc_link = nullptr;  // entry never returns
  makecontext(&c->uc, entry, 0);
}
#endif

struct Fiber {
  Context ctx;
  unsigned char* map = nullptr;    // the mapping: guard page + stack
  size_t map_bytes = 0;
  unsigned char* stack = nullptr;  // usable stack, lowest address
  void* asan_fake = nullptr;
  Slot* slot = nullptr;            // the thread it runs; null when parked at the top of its loop
};

void fiber_main();

// All scheduler state of the running launch.
struct Launch : LaunchView {
  ScheduleKind sched = ScheduleKind::Forward;
  uint64_t rng = 0;
  const char* bar_file = nullptr;  // call site of the block barrier being gathered
  const char* bar_func = nullptr;
  int bar_line = 0;
  unsigned bar_thread = 0;         // the first thread that reached it
  uint16_t scratch[kMaxThreads] = {};
  uint16_t scratch2[kMaxThreads] = {};
  struct Pool* pool = nullptr;
  KernelInvoke invoke = nullptr;
  void* closure = nullptr;
  Slot* slots = nullptr;  // index = linear thread id
  unsigned nthreads = 0, nwarps = 0;
  unsigned alive = 0;     // threads of this block not yet returned
  unsigned at_block = 0;  // threads waiting at the block barrier
  unsigned alive_mask[kMaxThreads / kWarp] = {};
  unsigned waiting_mask[kMaxThreads / kWarp] = {};  // lanes waiting at a warp primitive
  uint16_t queue[kMaxThreads] = {};                 // runnable threads, FIFO
  unsigned qhead = 0, qcount = 0;
  Fiber* idle[kMaxThreads] = {};                    // parked fibers, LIFO
  unsigned nidle = 0;
  std::exception_ptr error;
};

// One per OS thread that launches: launches on different OS threads never share state, and a
// launch from inside a kernel is refused, so one Launch per pool suffices.
struct Pool {
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<Slot> slots;
  Launch launch;
  Context main_ctx;
  void* main_asan_fake = nullptr;
  const void* main_stack_lo = nullptr;
  size_t main_stack_bytes = 0;

  Pool() {
    launch.block_serial = 0;
    launch.epoch = 0;
    launch.checks = false;
    launch.block_idx = uint3{0, 0, 0};
    launch.dyn_smem = nullptr;
#if defined(CK_EMU_ASAN)
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
      void* lo = nullptr;
      size_t n = 0;
      if (pthread_attr_getstack(&a, &lo, &n) == 0) { main_stack_lo = lo; main_stack_bytes = n; }
      pthread_attr_destroy(&a);
    }
#endif
  }
  ~Pool() {
    for (auto& f : fibers)
      if (f->map) munmap(f->map, f->map_bytes);
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  static void build_context(Fiber* f) {
    ctx_make(&f->ctx, f->stack, kStackBytes, fiber_main);
    f->slot = nullptr;
    f->asan_fake = nullptr;
#if defined(CK_EMU_ASAN)
    __asan_unpoison_memory_region(f->stack, kStackBytes);
#endif
  }

  void reserve(unsigned n) {
    if (slots.size() < n) slots.resize(n);
    if (fibers.size() >= n) return;
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    while (fibers.size() < n) {
      auto f = std::make_unique<Fiber>();
      f->map_bytes = kStackBytes + page;
      void* m = mmap(nullptr, f->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
      if (m == MAP_FAILED)
        throw ck::Error("ERR_CUDA_OOM", "emulated kernel: cannot map a " + std::to_string(f->map_bytes) +
                                            "-byte fiber stack (" + std::to_string(fibers.size()) + " mapped)");
      f->map = static_cast<unsigned char*>(m);
      mprotect(f->map, page, PROT_NONE);  // guard: a stack overflow faults instead of corrupting
      f->stack = f->map + page;
      build_context(f.get());
      fibers.push_back(std::move(f));
    }
  }
};

Pool& pool() {
  // Only a pointer in TLS: the module's TLS block stays small (it is allocated for every thread).
  static thread_local std::unique_ptr<Pool> p;
  if (!p) p = std::make_unique<Pool>();
  return *p;
}

inline Launch* cur_launch() { return static_cast<Launch*>(tls_launch); }
inline Slot* cur_slot() { return static_cast<Slot*>(tls_thread); }
inline bool in_kernel_now() { return tls_launch != &g_no_launch; }

inline void push(Launch* L, unsigned t) {
  L->queue[(L->qhead + L->qcount) & (kMaxThreads - 1)] = static_cast<uint16_t>(t);
  ++L->qcount;
}
inline Slot* peek(Launch* L) { return L->qcount ? &L->slots[L->queue[L->qhead]] : nullptr; }
inline Slot* pop(Launch* L) {
  if (L->qcount == 0) return nullptr;
  Slot* s = &L->slots[L->queue[L->qhead]];
  L->qhead = (L->qhead + 1) & (kMaxThreads - 1);
  --L->qcount;
  return s;
}
inline void bind(Slot* s, Fiber* f) {
  s->fiber = f;
  s->started = true;
  f->slot = s;
}

// Puts the k thread ids in `ids` (ascending) into the order the schedule runs them in.
void arrange(Launch* L, uint16_t* ids, unsigned k, bool warp_release) {
  switch (L->sched) {
    case ScheduleKind::Forward: return;
    case ScheduleKind::Reverse:
      for (unsigned i = 0, j = k; i + 1 < j; ++i, --j) std::swap(ids[i], ids[j - 1]);
      return;
    case ScheduleKind::Random:
      for (unsigned i = k; i > 1; --i) std::swap(ids[i - 1], ids[splitmix(L->rng) % i]);
      return;
    case ScheduleKind::Warps: {
      if (warp_release) return;  // one warp's lanes: in order, at the back of the queue
      // warps last to first, lanes in order (ids are ascending, so each warp is a contiguous run)
      uint16_t* out = L->scratch2;
      unsigned n = 0, end = k;
      while (end > 0) {
        unsigned begin = end - 1;
        while (begin > 0 && ids[begin - 1] / kWarp == ids[end - 1] / kWarp) --begin;
        for (unsigned i = begin; i < end; ++i) out[n++] = ids[i];
        end = begin;
      }
      std::memcpy(ids, out, k * sizeof(uint16_t));
      return;
    }
  }
}

inline void asan_start(void** save, const void* lo, size_t n) {
#if defined(CK_EMU_ASAN)
  __sanitizer_start_switch_fiber(save, lo, n);
#else
  (void)save; (void)lo; (void)n;
#endif
}
inline void asan_finish(void* save) {
#if defined(CK_EMU_ASAN)
  __sanitizer_finish_switch_fiber(save, nullptr, nullptr);
#else
  (void)save;
#endif
}

// Leaves fiber `from` for the next runnable thread (its own fiber, or a parked one if it has not
// started), or for the launcher when the queue is empty or the launch failed. Returns when someone
// switches back to `from`.
void transfer(Launch* L, Fiber* from) {
  Slot* to = L->error ? nullptr : pop(L);
  if (to) {
    if (!to->started) bind(to, L->idle[--L->nidle]);
    tls_thread = to;
    // A thread that queued itself (every schedule but forward) can be the head of the queue: it just
    // carries on (switching to its own context would resume a stale one).
    if (to->fiber == from) return;
    asan_start(&from->asan_fake, to->fiber->stack, kStackBytes);
    ctx_switch(&from->ctx, &to->fiber->ctx);
  } else {
    tls_thread = &g_no_thread;
    asan_start(&from->asan_fake, L->pool->main_stack_lo, L->pool->main_stack_bytes);
    ctx_switch(&from->ctx, &L->pool->main_ctx);
  }
  asan_finish(from->asan_fake);
}

// The thread of fiber `me` has returned. Runs the next thread in place when it has not started yet
// (no context switch: a kernel that never synchronises runs its whole block on one fiber); otherwise
// parks `me` and switches. Returns with `me` bound to the thread it must run next.
void next_thread(Launch* L, Fiber* me) {
  Slot* head = L->error ? nullptr : peek(L);
  if (head && !head->started) {
    pop(L);
    bind(head, me);
    tls_thread = head;
    return;
  }
  L->idle[L->nidle++] = me;
  transfer(L, me);
}

// Returns true when `self` was queued too (every schedule but forward) and must switch away.
bool release_block(Launch* L, Slot* self) {
  // self: the arriving thread that completes the barrier (under forward it continues without a
  // switch), or null when the barrier completes because a thread returned.
  const bool queue_self = self && L->sched != ScheduleKind::Forward;
  unsigned parts = L->at_block, count = 0, k = 0;
  for (unsigned t = 0; t < L->nthreads; ++t) {
    Slot* s = &L->slots[t];
    if ((s->state == State::AtBlockBarrier || s == self) && s->value) ++count;
  }
  for (unsigned t = 0; t < L->nthreads; ++t) {
    Slot* s = &L->slots[t];
    if (s->state != State::AtBlockBarrier && s != self) continue;
    switch (s->bop) {
      case BlockOp::Sync: s->result = 0; break;
      case BlockOp::Count: s->result = count; break;
      case BlockOp::And: s->result = count == parts; break;
      case BlockOp::Or: s->result = count != 0; break;
    }
    s->state = State::Runnable;
    if (s != self || queue_self) L->scratch[k++] = static_cast<uint16_t>(t);
  }
  L->at_block = 0;
  L->bar_file = nullptr;
  if (++L->epoch == 0) L->epoch = 1;
  arrange(L, L->scratch, k, false);
  for (unsigned i = 0; i < k; ++i) push(L, L->scratch[i]);
  return queue_self;
}

constexpr unsigned kFull32 = 0xffffffffu;
std::string hex(unsigned v);
[[noreturn]] void fail_in_kernel(const std::string& msg);

float tf32_value(uint32_t bits) {  // the tensor cores read the sign, exponent and top 10 mantissa bits
  bits &= 0xFFFFE000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 for the whole warp, with the PTX ISA's fragment
// layouts (groupID g = lane / 4, threadID_in_group t = lane % 4):
//   A (16x8, row): a0 (g, t)  a1 (g+8, t)  a2 (g, t+4)  a3 (g+8, t+4)
//   B (8x8, col):  b0 (t, g)  b1 (t+4, g)
//   C, D (16x8):   c0 (g, 2t) c1 (g, 2t+1) c2 (g+8, 2t) c3 (g+8, 2t+1)
// A product of two tf32 values is exact in fp32; D = C + the 8 products added in k order in fp32 (the
// order of the hardware's additions is not specified by the ISA; real GPUs may differ in the last bit).
void mma_m16n8k8_tf32(MmaFragments* const* f) {
  float A[16][8], B[8][8], C[16][8];
  for (unsigned l = 0; l < kWarp; ++l) {
    const unsigned g = l / 4, t = l % 4;
    A[g][t] = tf32_value(f[l]->a[0]);
    A[g + 8][t] = tf32_value(f[l]->a[1]);
    A[g][t + 4] = tf32_value(f[l]->a[2]);
    A[g + 8][t + 4] = tf32_value(f[l]->a[3]);
    B[t][g] = tf32_value(f[l]->b[0]);
    B[t + 4][g] = tf32_value(f[l]->b[1]);
    C[g][2 * t] = f[l]->c[0];
    C[g][2 * t + 1] = f[l]->c[1];
    C[g + 8][2 * t] = f[l]->c[2];
    C[g + 8][2 * t + 1] = f[l]->c[3];
  }
  for (unsigned l = 0; l < kWarp; ++l) {
    const unsigned g = l / 4, t = l % 4;
    const unsigned rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
    for (int i = 0; i < 4; ++i) {
      float d = C[rows[i]][cols[i]];
      for (int k = 0; k < 8; ++k) d += A[rows[i]][k] * B[k][cols[i]];
      f[l]->d[i] = d;
    }
  }
}

// Releases the group of `rep` (lanes of its mask still alive) if all of them wait at the same
// primitive with the same mask and width. Returns 0: not released; 1: released, and the caller (if
// in the group) continues without a switch (forward); 2: released and the caller was queued with
// the others, so it must switch away.
int try_release_group(Launch* L, unsigned w, Slot* rep) {
  const unsigned group = rep->mask & L->alive_mask[w];
  if ((L->waiting_mask[w] & group) != group) return 0;
  Slot* lanes = L->slots + w * kWarp;
  for (unsigned g = group; g; g &= g - 1) {
    const Slot& s = lanes[__builtin_ctz(g)];
    if (s.op != rep->op || s.mask != rep->mask || s.width != rep->width) return 0;
  }
  const WarpOp op = rep->op;
  if (op == WarpOp::MmaTf32) {
    if (group != kFull32 || rep->width != 32)
      fail_in_kernel("mma.sync needs all 32 lanes of the warp, converged (mask " + hex(rep->mask) + ", live lanes " +
                     hex(L->alive_mask[w]) + ")");
    MmaFragments* f[kWarp];
    for (unsigned l = 0; l < kWarp; ++l) f[l] = reinterpret_cast<MmaFragments*>(lanes[l].value);
    mma_m16n8k8_tf32(f);
    for (unsigned l = 0; l < kWarp; ++l) lanes[l].result = 0;
  } else if (op == WarpOp::Ballot || op == WarpOp::Any || op == WarpOp::All) {
    unsigned ballot = 0;
    for (unsigned g = group; g; g &= g - 1) {
      unsigned l = __builtin_ctz(g);
      if (lanes[l].value) ballot |= 1u << l;
    }
    uint64_t r = op == WarpOp::Ballot ? ballot : op == WarpOp::Any ? (ballot != 0) : (ballot == group);
    for (unsigned g = group; g; g &= g - 1) lanes[__builtin_ctz(g)].result = r;
  } else if (op != WarpOp::Sync) {
    // PTX shfl.sync: c = ((32 - width) << 8) | clamp, clamp = 0 for up and 31 otherwise.
    const int segmask = (kWarp - rep->width) & 31;
    for (unsigned g = group; g; g &= g - 1) {
      const int lane = __builtin_ctz(g);
      Slot& s = lanes[lane];
      const int b = s.arg & 31;
      const int min_lane = lane & segmask;
      const int max_lane = min_lane | (op == WarpOp::Up ? 0 : (31 & ~segmask));
      int j = lane;
      bool in_range = true;
      switch (op) {
        case WarpOp::Up: j = lane - b; in_range = j >= max_lane; break;
        case WarpOp::Down: j = lane + b; in_range = j <= max_lane; break;
        case WarpOp::Xor: j = lane ^ b; in_range = j <= max_lane; break;
        default: j = min_lane | (b & ~segmask); in_range = j <= max_lane; break;
      }
      if (!in_range) j = lane;
      s.result = (group >> j) & 1u ? lanes[j].value : kPoison;
    }
  } else {
    for (unsigned g = group; g; g &= g - 1) lanes[__builtin_ctz(g)].result = 0;
  }
  Slot* self = cur_slot();
  const bool forward = L->sched == ScheduleKind::Forward;
  bool self_queued = false;
  unsigned k = 0;
  for (unsigned g = group; g; g &= g - 1) {
    unsigned l = __builtin_ctz(g);
    lanes[l].state = State::Runnable;
    if (&lanes[l] != self || !forward) L->scratch[k++] = static_cast<uint16_t>(w * kWarp + l);
    if (&lanes[l] == self && !forward) self_queued = true;
  }
  arrange(L, L->scratch, k, true);
  for (unsigned i = 0; i < k; ++i) push(L, L->scratch[i]);
  L->waiting_mask[w] &= ~group;
  return self_queued ? 2 : 1;
}

void try_release_warp(Launch* L, unsigned w) {
  unsigned pending = L->waiting_mask[w];
  while (pending) {
    unsigned l = __builtin_ctz(pending);
    if (try_release_group(L, w, &L->slots[w * kWarp + l]))
      pending = L->waiting_mask[w] & ~((2u << l) - 1);  // the lanes above l still waiting
    else
      pending &= pending - 1;
  }
}

void thread_exit(Launch* L, Slot* me) {
  me->state = State::Done;
  me->fiber->slot = nullptr;
  me->fiber = nullptr;
  --L->alive;
  L->alive_mask[me->warp] &= ~(1u << me->lane);
  if (L->error) return;
  if (L->at_block && L->at_block == L->alive) (void)release_block(L, nullptr);
  if (L->waiting_mask[me->warp]) try_release_warp(L, me->warp);
}

void fiber_main() {
  asan_finish(nullptr);
  Fiber* const me = cur_slot()->fiber;  // bound by whoever switched here
  for (;;) {
    Launch* L = cur_launch();
    try {
      L->invoke(L->closure);
    } catch (...) {
      if (!L->error) L->error = std::current_exception();
    }
    thread_exit(L, me->slot);
    next_thread(L, me);
  }
}

std::string where(const Launch* L) {
  auto v = [](unsigned x, unsigned y, unsigned z) {
    return "(" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + ")";
  };
  return "block " + v(L->block_idx.x, L->block_idx.y, L->block_idx.z) + " of grid " +
         v(L->grid_dim.x, L->grid_dim.y, L->grid_dim.z) + ", blockDim " +
         v(L->block_dim.x, L->block_dim.y, L->block_dim.z);
}

std::string thread_name(const Slot* f) {
  return "thread (" + std::to_string(f->thread_idx.x) + "," + std::to_string(f->thread_idx.y) + "," +
         std::to_string(f->thread_idx.z) + ") [warp " + std::to_string(f->warp) + " lane " +
         std::to_string(f->lane) + "]";
}

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::Sync: return "__syncwarp";
    case WarpOp::Idx: return "__shfl_sync";
    case WarpOp::Up: return "__shfl_up_sync";
    case WarpOp::Down: return "__shfl_down_sync";
    case WarpOp::Xor: return "__shfl_xor_sync";
    case WarpOp::Ballot: return "__ballot_sync";
    case WarpOp::Any: return "__any_sync";
    case WarpOp::All: return "__all_sync";
    case WarpOp::MmaTf32: return "mma.sync.m16n8k8.tf32";
  }
  return "?";
}

std::string hex(unsigned v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

std::string deadlock_message(const Launch* L) {
  std::string m = "emulated kernel deadlock: " + where(L) + ": " + std::to_string(L->alive) +
                  " live threads, " + std::to_string(L->at_block) + " waiting at __syncthreads";
  unsigned described = 0;
  for (unsigned w = 0; w < L->nwarps && described < 8; ++w) {
    if (!L->waiting_mask[w]) continue;
    ++described;
    m += "; warp " + std::to_string(w) + ":";
    unsigned left = L->waiting_mask[w];
    while (left) {
      const Slot* rep = &L->slots[w * kWarp + __builtin_ctz(left)];
      unsigned same = 0;
      for (unsigned g = left; g; g &= g - 1) {
        const Slot* f = &L->slots[w * kWarp + __builtin_ctz(g)];
        if (f->op == rep->op && f->mask == rep->mask) same |= 1u << __builtin_ctz(g);
      }
      m += std::string(left == L->waiting_mask[w] ? " " : ", ") + "lanes " + hex(same) + " at " + op_name(rep->op) +
           "(mask " + hex(rep->mask) + ")";
      left &= ~same;
    }
    unsigned others = L->alive_mask[w] & ~L->waiting_mask[w];
    if (others) m += ", lanes " + hex(others) + " at __syncthreads";
  }
  return m + " (lanes of one warp must reach the same primitive with the same mask)";
}

[[noreturn]] void fail_in_kernel(const std::string& msg) {
  throw ck::Error("ERR_CUDA", "emulated kernel: " + thread_name(cur_slot()) + " in " + where(cur_launch()) +
                                  ": " + msg);
}

// Rebuilds the fibers abandoned inside kernel code (deadlock, exception).
void abandon_block(Launch* L) {
  for (auto& f : L->pool->fibers)
    if (f->slot) Pool::build_context(f.get());
  for (unsigned t = 0; t < L->nthreads; ++t) L->slots[t].fiber = nullptr;
}

}  // namespace

uint64_t warp_op(WarpOp op, unsigned mask, uint64_t value, int arg, int width) {
  if (!in_kernel_now())
    throw ck::Error("ERR_CUDA", std::string(op_name(op)) + " called outside an emulated kernel");
  Launch* L = cur_launch();
  Slot* me = cur_slot();
  if (!(mask >> me->lane & 1u))
    fail_in_kernel(std::string(op_name(op)) + " with mask " + hex(mask) + " that does not name the calling lane");
  if (width < 1 || width > 32 || (width & (width - 1)))
    fail_in_kernel(std::string(op_name(op)) + " with width " + std::to_string(width) +
                   " (must be a power of two up to 32)");
  me->op = op;
  me->mask = mask;
  me->value = value;
  me->arg = arg;
  me->width = width;
  me->state = State::AtWarpBarrier;
  L->waiting_mask[me->warp] |= 1u << me->lane;
  if (try_release_group(L, me->warp, me) != 1) transfer(L, me->fiber);
  return me->result;
}

unsigned active_mask() {
  if (!in_kernel_now()) return 0;
  return cur_launch()->alive_mask[cur_slot()->warp];
}

int block_barrier(BlockOp op, int pred, const char* file, int line, const char* func) {
  if (!in_kernel_now()) throw ck::Error("ERR_CUDA", "__syncthreads called outside an emulated kernel");
  Launch* L = cur_launch();
  Slot* me = cur_slot();
  if (L->at_block == 0) {
    L->bar_file = file;
    L->bar_line = line;
    L->bar_func = func;
    L->bar_thread = me->linear;
  } else if (line != L->bar_line || (file != L->bar_file && std::strcmp(file, L->bar_file) != 0)) {
    fail_in_kernel("reached __syncthreads at " + std::string(file) + ":" + std::to_string(line) + " (in " + func +
                   ") while " + thread_name(&L->slots[L->bar_thread]) + " waits at __syncthreads at " +
                   L->bar_file + ":" + std::to_string(L->bar_line) + " (in " + L->bar_func +
                   "): the threads of a block must reach the same barrier (divergent __syncthreads)");
  }
  me->bop = op;
  me->value = pred != 0;
  if (++L->at_block == L->alive) {
    if (release_block(L, me)) transfer(L, me->fiber);
  } else {
    me->state = State::AtBlockBarrier;
    transfer(L, me->fiber);
  }
  return static_cast<int>(me->result);
}

// ---- checked shared arrays ------------------------------------------------------------------------------

namespace {
// Owns the shadows of this OS thread's CK_SHARED arrays (their SharedArray heads are thread_local too).
struct ShadowRegistry {
  std::vector<std::unique_ptr<SharedShadow[]>> owned;
};
ShadowRegistry& shadow_registry() {
  static thread_local std::unique_ptr<ShadowRegistry> r;
  if (!r) r = std::make_unique<ShadowRegistry>();
  return *r;
}

std::string array_name(const SharedArray* a) {
  return std::string("shared array `") + a->name + "` (" + a->file + ":" + std::to_string(a->line) + ", in " +
         a->func + ")";
}

std::string linear_thread_name(const Launch* L, unsigned t) { return thread_name(&L->slots[t]); }

[[noreturn]] void race(const SharedArray* a, size_t i, const char* what, unsigned other) {
  fail_in_kernel(std::string(what) + " element " + std::to_string(i) + " of " + array_name(a) + " that " +
                 linear_thread_name(cur_launch(), other) +
                 " accessed between the same two __syncthreads (shared-memory race: a __syncthreads is missing, "
                 "or an accumulation needs atomicAdd)");
}
}  // namespace

void shared_enter(SharedArray* a, void* data, size_t bytes, size_t elems, const char* name, const char* file,
                  int line, const char* func) {
  const LaunchView* L = tls_launch;
  a->block_serial = L->block_serial;
  a->name = name;
  a->file = file;
  a->line = line;
  a->func = func;
  if (!L->checks) {
    a->shadow = nullptr;
    return;
  }
  std::memset(data, 0xFF, bytes);  // shared memory starts as garbage: NaN, -1
  if (!a->store || a->elems != elems) {
    auto sh = std::make_unique<SharedShadow[]>(elems);
    for (size_t i = 0; i < elems; ++i) sh[i] = SharedShadow{0, 0, kNoThread, kNoThread, 0};
    a->store = sh.get();
    shadow_registry().owned.push_back(std::move(sh));
  }
  a->elems = static_cast<uint32_t>(elems);
  a->shadow = a->store;  // entries of earlier blocks are stale by their epoch and block serial
}

void shared_read(SharedArray* a, size_t i) {
  const Launch* L = cur_launch();
  const uint16_t t = static_cast<uint16_t>(cur_slot()->linear);
  SharedShadow& e = a->shadow[i];
  if (e.written_block != L->block_serial)
    fail_in_kernel("read element " + std::to_string(i) + " of " + array_name(a) +
                   " that no thread of this block has written yet (uninitialised shared memory, or a __syncthreads "
                   "missing between the write and this read)");
  if (e.epoch != L->epoch) {
    e.epoch = L->epoch;
    e.writer = kNoThread;
    e.reader = t;
    e.many_readers = 0;
    return;
  }
  if (e.writer != kNoThread && e.writer != t) race(a, i, "read", e.writer);
  if (e.reader == kNoThread) e.reader = t;
  else if (e.reader != t) e.many_readers = 1;
}

void shared_write(SharedArray* a, size_t i) {
  const Launch* L = cur_launch();
  const uint16_t t = static_cast<uint16_t>(cur_slot()->linear);
  SharedShadow& e = a->shadow[i];
  if (e.epoch != L->epoch) {
    e.epoch = L->epoch;
    e.reader = kNoThread;
    e.many_readers = 0;
  } else {
    if (e.writer != kNoThread && e.writer != t) race(a, i, "wrote", e.writer);
    if (e.reader != kNoThread && (e.reader != t || e.many_readers)) {
      unsigned other = e.reader;
      if (other == t) {  // several readers, this thread among them: name another one
        for (unsigned u = 0; u < L->nthreads; ++u)
          if (u != t) { other = u; break; }
      }
      race(a, i, "wrote", other);
    }
  }
  e.writer = t;
  e.written_block = L->block_serial;
}

void shared_out_of_bounds(const SharedArray* a, long long index, size_t extent) {
  fail_in_kernel("index " + std::to_string(index) + " out of bounds [0, " + std::to_string(extent) +
                 ") of a dimension of " + array_name(a));
}

}  // namespace detail

size_t fiber_stack_bytes() { return detail::kStackBytes; }

Schedule parse_schedule(const std::string& spec) {
  Schedule s;
  if (spec == "forward") s.kind = ScheduleKind::Forward;
  else if (spec == "reverse") s.kind = ScheduleKind::Reverse;
  else if (spec == "warps") s.kind = ScheduleKind::Warps;
  else if (spec == "random") s.kind = ScheduleKind::Random;
  else if (spec.compare(0, 7, "random:") == 0 && spec.size() > 7 && spec.size() <= 27 &&
           spec.find_first_not_of("0123456789", 7) == std::string::npos) {
    s.kind = ScheduleKind::Random;
    s.seed = std::strtoull(spec.c_str() + 7, nullptr, 10);
  } else {
    throw ck::Error("ERR_ARG", "emulation schedule must be forward, reverse, random, random:<seed> or warps, got '" +
                                   spec + "'", ErrorKind::Range);
  }
  return s;
}

std::string schedule_name(const Schedule& s) {
  switch (s.kind) {
    case ScheduleKind::Forward: return "forward";
    case ScheduleKind::Reverse: return "reverse";
    case ScheduleKind::Warps: return "warps";
    case ScheduleKind::Random: return "random:" + std::to_string(s.seed);
  }
  return "?";
}

Schedule schedule() {
  detail::Settings& g = detail::settings();
  Schedule s;
  s.kind = static_cast<ScheduleKind>(g.kind.load());
  s.seed = g.seed.load();
  return s;
}

Schedule set_schedule(const Schedule& s) {
  Schedule old = schedule();
  detail::Settings& g = detail::settings();
  g.seed = s.seed;
  g.kind = static_cast<uint8_t>(s.kind);
  g.env_bad = false;
  return old;
}

bool checks() { return detail::settings().checks.load(); }
bool set_checks(bool on) { return detail::settings().checks.exchange(on); }

void launch(const dim3& grid, const dim3& block, size_t smem_bytes, KernelInvoke invoke, void* closure) {
  using namespace detail;
  if (in_kernel_now())
    throw ck::Error("ERR_CUDA", "emulated kernel: launching a kernel from device code is not supported");
  const unsigned n = block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || n == 0) return;
  if (n > kMaxThreads) throw ck::Error("ERR_CUDA", "emulated launch: more than 1024 threads per block");

  Pool& P = pool();
  P.reserve(n);

  // Per-launch dynamic shared memory, exactly sized so that AddressSanitizer sees overruns.
  struct Smem {
    unsigned char* p = nullptr;
    ~Smem() { if (p) ::operator delete(p, std::align_val_t(64)); }
  } smem;
  if (smem_bytes) smem.p = static_cast<unsigned char*>(::operator new(smem_bytes, std::align_val_t(64)));

  Settings& cfg = settings();
  if (cfg.env_bad.load()) throw ck::Error("ERR_ARG", cfg.env_error, ErrorKind::Range);
  Launch* L = &P.launch;
  L->sched = static_cast<ScheduleKind>(cfg.kind.load());
  uint64_t stream = cfg.seed.load() * 0xD1B54A32D192ED03ull + cfg.launches.fetch_add(1);
  L->rng = splitmix(stream);
  L->checks = cfg.checks.load();
  L->bar_file = nullptr;
  L->block_dim = block;
  L->grid_dim = grid;
  L->dyn_smem = smem.p;
  L->pool = &P;
  L->invoke = invoke;
  L->closure = closure;
  L->slots = P.slots.data();
  L->nthreads = n;
  L->nwarps = (n + kWarp - 1) / kWarp;
  L->error = nullptr;
  for (unsigned t = 0; t < n; ++t) {
    Slot& s = L->slots[t];
    s.thread_idx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
    s.linear = t;
    s.warp = t / kWarp;
    s.lane = t % kWarp;
  }

  struct Restore {
    Launch* L;
    ~Restore() {
      tls_thread = &g_no_thread;
      tls_launch = &g_no_launch;
      L->error = nullptr;
      L->invoke = nullptr;
      L->closure = nullptr;
    }
  } restore{L};
  tls_launch = L;

  // Block order: linear, reversed, or the affine permutation b = (a * i + c) mod total (gcd(a, total) = 1).
  const uint64_t total = uint64_t(grid.x) * grid.y * grid.z;
  uint64_t perm_a = 1, perm_c = 0;
  if (L->sched == ScheduleKind::Random && total > 1) {
    auto gcd = [](uint64_t a, uint64_t b) { while (b) { uint64_t t = a % b; a = b; b = t; } return a; };
    do perm_a = 1 + splitmix(L->rng) % (total - 1); while (gcd(perm_a, total) != 1);
    perm_c = splitmix(L->rng) % total;
  }
  for (uint64_t i = 0; i < total; ++i) {
        uint64_t b = i;
        if (L->sched == ScheduleKind::Reverse) b = total - 1 - i;
        else if (L->sched == ScheduleKind::Random && total > 1)
          b = static_cast<uint64_t>((static_cast<unsigned __int128>(perm_a) * i + perm_c) % total);
        L->block_idx = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                             static_cast<unsigned>(b / (uint64_t(grid.x) * grid.y))};
        if (++L->block_serial == 0) L->block_serial = 1;
        if (++L->epoch == 0) L->epoch = 1;
        if (smem_bytes) std::memset(smem.p, 0xFF, smem_bytes);  // shared memory starts as garbage
        L->alive = n;
        L->at_block = 0;
        for (unsigned w = 0; w < L->nwarps; ++w) {
          const unsigned lanes = n - w * kWarp < kWarp ? n - w * kWarp : kWarp;
          L->alive_mask[w] = lanes == 32 ? ~0u : (1u << lanes) - 1;
          L->waiting_mask[w] = 0;
        }
        for (unsigned t = 0; t < n; ++t) {
          Slot& s = L->slots[t];
          s.state = State::Runnable;
          s.started = false;
          s.fiber = nullptr;
          s.async_copies.clear();
          s.async_commits = 0;
          L->queue[t] = static_cast<uint16_t>(t);
        }
        arrange(L, L->queue, n, false);
        L->qhead = 0;
        L->qcount = n;
        L->nidle = 0;
        for (unsigned i = n; i-- > 0;) L->idle[L->nidle++] = P.fibers[i].get();  // fiber 0 on top

        Slot* first = pop(L);
        bind(first, L->idle[--L->nidle]);
        tls_thread = first;
        asan_start(&P.main_asan_fake, first->fiber->stack, kStackBytes);
        ctx_switch(&P.main_ctx, &first->fiber->ctx);
        asan_finish(P.main_asan_fake);
        tls_thread = &g_no_thread;

        if (L->error) {
          std::exception_ptr e = L->error;
          abandon_block(L);
          std::rethrow_exception(e);
        }
        if (L->alive) {
          std::string msg = deadlock_message(L);
          abandon_block(L);
          throw ck::Error("ERR_CUDA", msg);
        }
  }
}

}  // namespace emu
}  // namespace ck
