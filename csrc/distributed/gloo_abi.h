/* The C ABI between convkit.node and convkit_gloo.so, the small library that holds everything that needs
 * libgloo (csrc/distributed/gloo/convkit_gloo.cc). convkit.node never links Gloo: it dlopen()s
 * convkit_gloo.so on the first initProcessGroup({ backend: 'gloo' }) (csrc/distributed/gloo_loader.cc), so
 * a binary built where libgloo-dev was installed still loads on a machine without libgloo0. Only plain C
 * types cross: no exceptions, no C++ objects, no allocations freed on the other side. Every function that
 * can fail returns 0 on success, else writes a NUL-terminated message into err (errlen bytes at most).
 * Change CK_GLOO_ABI_VERSION with any change below: the loader refuses a library of another version. */
#ifndef CK_GLOO_ABI_H
#define CK_GLOO_ABI_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CK_GLOO_ABI_VERSION 1

enum { CK_GLOO_F32 = 0, CK_GLOO_I32 = 1 };                                          /* element types */
enum { CK_GLOO_SUM = 0, CK_GLOO_MAX = 1, CK_GLOO_MIN = 2, CK_GLOO_PRODUCT = 3 };  /* reductions */

/* The rendezvous store, served by convkit.node's TCP store: Gloo exchanges the peers' addresses through it. */
typedef struct ck_gloo_store {
  void* self;
  int (*set)(void* self, const char* key, const void* data, size_t len, char* err, size_t errlen);
  /* Waits for the key (up to the store's timeout); *data is released with release(self, *data). */
  int (*get)(void* self, const char* key, void** data, size_t* len, char* err, size_t errlen);
  void (*release)(void* self, void* data);
  /* Waits for every key; timeout_ms < 0: the store's own timeout. */
  int (*wait)(void* self, const char* const* keys, size_t n, int64_t timeout_ms, char* err, size_t errlen);
} ck_gloo_store;

typedef int (*ck_gloo_abi_version_fn)(void);
/* Connects this rank to every other (full mesh). hostname or iface (either may be "") says where the peers
 * reach this rank. Returns the context, or NULL with err set. */
typedef void* (*ck_gloo_connect_fn)(int rank, int size, const char* hostname, const char* iface, int64_t timeout_ms,
                                    const ck_gloo_store* store, char* err, size_t errlen);
/* Collectives on count elements; tag orders them (every rank runs them with the same tags). */
typedef int (*ck_gloo_allreduce_fn)(void* ctx, int dtype, int op, void* buf, size_t count, uint32_t tag,
                                    int64_t timeout_ms, char* err, size_t errlen);
typedef int (*ck_gloo_broadcast_fn)(void* ctx, int dtype, int root, void* buf, size_t count, uint32_t tag,
                                    int64_t timeout_ms, char* err, size_t errlen);
/* out holds count x world size elements, rank r's input at r x count. */
typedef int (*ck_gloo_allgather_fn)(void* ctx, int dtype, const void* in, void* out, size_t count, uint32_t tag,
                                    int64_t timeout_ms, char* err, size_t errlen);
typedef int (*ck_gloo_barrier_fn)(void* ctx, uint32_t tag, int64_t timeout_ms, char* err, size_t errlen);
/* Closes the connections at once (peers blocked on this rank fail now); the context stays to be destroyed. */
typedef void (*ck_gloo_close_fn)(void* ctx);
typedef void (*ck_gloo_destroy_fn)(void* ctx);

#ifdef __cplusplus
}
#endif
#endif
