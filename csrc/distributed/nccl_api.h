/* convkit's own declarations of the part of NCCL's C API it uses (NCCL 2.x, nccl.h). No NCCL header or
 * library is needed to build: libnccl.so.2 is dlopen()ed at run time (nccl_loader.cc) and every function is
 * reached through a pointer of the matching type in ck::dist::NcclApi. The numeric values of the enums, the
 * size of ncclUniqueId and the signatures are NCCL's ABI and must not change; only the subset convkit calls
 * is declared. The emulated stand-in (nccl_emu/convkit_nccl_emu.cc) implements exactly these. */
#ifndef CK_NCCL_API_H
#define CK_NCCL_API_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ncclComm* ncclComm_t;
typedef struct CUstream_st* cudaStream_t; /* the CUDA runtime's own opaque spelling */

#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7
} ncclResult_t;

typedef enum { ncclInt32 = 2, ncclFloat32 = 7 } ncclDataType_t; /* the two element types convkit has */
typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;

/* name, return type, parameters: the functions resolved from the library (all required). */
#define CK_NCCL_FUNCTIONS(X)                                                                                   \
  X(ncclGetVersion, ncclResult_t, (int* version))                                                              \
  X(ncclGetUniqueId, ncclResult_t, (ncclUniqueId * uniqueId))                                                  \
  X(ncclCommInitRank, ncclResult_t, (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank))            \
  X(ncclCommDestroy, ncclResult_t, (ncclComm_t comm))                                                          \
  X(ncclCommAbort, ncclResult_t, (ncclComm_t comm))                                                            \
  X(ncclCommGetAsyncError, ncclResult_t, (ncclComm_t comm, ncclResult_t * asyncError))                         \
  X(ncclGetErrorString, const char*, (ncclResult_t result))                                                    \
  X(ncclAllReduce, ncclResult_t,                                                                               \
    (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm, \
     cudaStream_t stream))                                                                                     \
  X(ncclBroadcast, ncclResult_t,                                                                               \
    (const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,    \
     cudaStream_t stream))                                                                                     \
  X(ncclAllGather, ncclResult_t,                                                                               \
    (const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype, ncclComm_t comm,          \
     cudaStream_t stream))                                                                                     \
  X(ncclReduceScatter, ncclResult_t,                                                                           \
    (const void* sendbuff, void* recvbuff, size_t recvcount, ncclDataType_t datatype, ncclRedOp_t op,           \
     ncclComm_t comm, cudaStream_t stream))                                                                    \
  X(ncclGroupStart, ncclResult_t, (void))                                                                      \
  X(ncclGroupEnd, ncclResult_t, (void))

/* Exported only by the emulated stand-in (convkit_nccl_emu.so): its value is CK_NCCL_EMU_MAGIC. The loader
 * uses it to keep a real NCCL out of the emulated build (whose device memory is host memory) and the
 * stand-in out of a real one. */
#define CK_NCCL_EMU_MAGIC 0x636b6e31
typedef int (*ck_nccl_emu_magic_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
