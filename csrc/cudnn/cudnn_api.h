// convkit's own declarations of the part of the cuDNN 9 C API it uses. No cuDNN header or library is
// needed to build: the library is dlopened at run time (csrc/cudnn/loader.cc) and every function below is
// reached through a pointer of the matching type in ck::cudnn::Api. The numeric values of the enums and
// the layouts of the structs are cuDNN's ABI (cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h of cuDNN 9) and
// must not change; only the subset convkit calls is declared.
#pragma once
#include <cstddef>

extern "C" {

typedef struct cudnnContext* cudnnHandle_t;
typedef struct cudnnTensorStruct* cudnnTensorDescriptor_t;
typedef struct cudnnFilterStruct* cudnnFilterDescriptor_t;
typedef struct cudnnConvolutionStruct* cudnnConvolutionDescriptor_t;
typedef struct CUstream_st* cudaStream_t;  // the CUDA runtime's own opaque spelling

typedef enum {
  CUDNN_STATUS_SUCCESS = 0,
  CUDNN_STATUS_NOT_INITIALIZED = 1001,
  CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH = 1002,
  CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH = 1003,
  CUDNN_STATUS_DEPRECATED = 1004,
  CUDNN_STATUS_LICENSE_ERROR = 1005,
  CUDNN_STATUS_RUNTIME_IN_PROGRESS = 1006,
  CUDNN_STATUS_RUNTIME_FP_OVERFLOW = 1007,
  CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED = 1008,
  CUDNN_STATUS_BAD_PARAM = 2000,
  CUDNN_STATUS_BAD_PARAM_NULL_POINTER = 2002,
  CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER = 2003,
  CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED = 2004,
  CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND = 2005,
  CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT = 2006,
  CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH = 2007,
  CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH = 2008,
  CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES = 2009,
  CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE = 2010,
  CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH = 2011,
  CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE = 2012,
  CUDNN_STATUS_NOT_SUPPORTED = 3000,
  CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN = 3001,
  CUDNN_STATUS_NOT_SUPPORTED_SHAPE = 3002,
  CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE = 3003,
  CUDNN_STATUS_NOT_SUPPORTED_LAYOUT = 3004,
  CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER = 3005,
  CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART = 3006,
  CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH = 3007,
  CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING = 3008,
  CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE = 3009,
  CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT = 3010,
  CUDNN_STATUS_NOT_SUPPORTED_PADDING = 3011,
  CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM = 3012,
  CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API = 3013,
  CUDNN_STATUS_INTERNAL_ERROR = 4000,
  CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED = 4001,
  CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE = 4002,
  CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED = 4003,
  CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED = 4004,
  CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM = 4005,
  CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED = 4006,
  CUDNN_STATUS_EXECUTION_FAILED = 5000,
  CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER = 5001,
  CUDNN_STATUS_EXECUTION_FAILED_CUBLAS = 5002,
  CUDNN_STATUS_EXECUTION_FAILED_CUDART = 5003,
  CUDNN_STATUS_EXECUTION_FAILED_CURAND = 5004,
} cudnnStatus_t;

typedef enum {
  CUDNN_DATA_FLOAT = 0,
  CUDNN_DATA_DOUBLE = 1,
  CUDNN_DATA_HALF = 2,
  CUDNN_DATA_INT8 = 3,
  CUDNN_DATA_INT32 = 4,
  CUDNN_DATA_INT8x4 = 5,
  CUDNN_DATA_UINT8 = 6,
  CUDNN_DATA_UINT8x4 = 7,
  CUDNN_DATA_INT8x32 = 8,
  CUDNN_DATA_BFLOAT16 = 9,
  CUDNN_DATA_INT64 = 10,
  CUDNN_DATA_BOOLEAN = 11,
  CUDNN_DATA_FP8_E4M3 = 12,
  CUDNN_DATA_FP8_E5M2 = 13,
  CUDNN_DATA_FAST_FLOAT_FOR_FP8 = 14,
} cudnnDataType_t;

typedef enum { CUDNN_TENSOR_NCHW = 0, CUDNN_TENSOR_NHWC = 1, CUDNN_TENSOR_NCHW_VECT_C = 2 } cudnnTensorFormat_t;

typedef enum {
  CUDNN_DEFAULT_MATH = 0,  // FP32 convolutions may use TF32 tensor cores
  CUDNN_TENSOR_OP_MATH = 1,
  CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CUDNN_FMA_MATH = 3,  // FP32 FMA only: no TF32
} cudnnMathType_t;

typedef enum { CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1 } cudnnDeterminism_t;
typedef enum { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 } cudnnConvolutionMode_t;

typedef enum {
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM = 0,
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1,
  CUDNN_CONVOLUTION_FWD_ALGO_GEMM = 2,
  CUDNN_CONVOLUTION_FWD_ALGO_DIRECT = 3,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT = 4,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING = 5,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD = 6,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED = 7,
  CUDNN_CONVOLUTION_FWD_ALGO_COUNT = 8,
} cudnnConvolutionFwdAlgo_t;

typedef enum {
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING = 3,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT = 6,
} cudnnConvolutionBwdDataAlgo_t;

typedef enum {
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 = 3,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING = 6,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT = 7,
} cudnnConvolutionBwdFilterAlgo_t;

typedef enum {
  CUDNN_BATCHNORM_PER_ACTIVATION = 0,
  CUDNN_BATCHNORM_SPATIAL = 1,
  CUDNN_BATCHNORM_SPATIAL_PERSISTENT = 2,
} cudnnBatchNormMode_t;


}  // extern "C"

// cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t: one layout (cudnnConvolutionFwdAlgoPerfStruct etc. of
// cudnn_cnn.h), differing only in the type of algo; a standard-layout struct, passed to cuDNN by pointer.
template <class Algo>
struct cudnnConvolutionAlgoPerf {
  Algo algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};
typedef cudnnConvolutionAlgoPerf<cudnnConvolutionFwdAlgo_t> cudnnConvolutionFwdAlgoPerf_t;
typedef cudnnConvolutionAlgoPerf<cudnnConvolutionBwdDataAlgo_t> cudnnConvolutionBwdDataAlgoPerf_t;
typedef cudnnConvolutionAlgoPerf<cudnnConvolutionBwdFilterAlgo_t> cudnnConvolutionBwdFilterAlgoPerf_t;

// The four functions of one convolution direction (heuristic ranking, timed search, workspace size, run), which
// share one signature over the direction's operands a, b -> c of descriptor types A, B, C: forward x, w -> y;
// backward-data w, dy -> dx; backward-filter x, dy -> dw. Name/Short spell the direction in function/type names.
#define CK_CUDNN_CONV_DIRECTION(X, Name, Short, A, B, C)                                                          \
  X(cudnnGetConvolution##Name##Algorithm_v7, cudnnStatus_t,                                                       \
    (cudnnHandle_t handle, A aDesc, B bDesc, cudnnConvolutionDescriptor_t convDesc, C cDesc, int requestedAlgoCount,\
     int* returnedAlgoCount, cudnnConvolution##Short##AlgoPerf_t* perfResults))                                   \
  X(cudnnFindConvolution##Name##AlgorithmEx, cudnnStatus_t,                                                       \
    (cudnnHandle_t handle, A aDesc, const void* a, B bDesc, const void* b, cudnnConvolutionDescriptor_t convDesc, \
     C cDesc, void* c, int requestedAlgoCount, int* returnedAlgoCount,                                            \
     cudnnConvolution##Short##AlgoPerf_t* perfResults, void* workSpace, size_t workSpaceSizeInBytes))             \
  X(cudnnGetConvolution##Name##WorkspaceSize, cudnnStatus_t,                                                      \
    (cudnnHandle_t handle, A aDesc, B bDesc, cudnnConvolutionDescriptor_t convDesc, C cDesc,                      \
     cudnnConvolution##Short##Algo_t algo, size_t* sizeInBytes))                                                  \
  X(cudnnConvolution##Name, cudnnStatus_t,                                                                        \
    (cudnnHandle_t handle, const void* alpha, A aDesc, const void* a, B bDesc, const void* b,                     \
     cudnnConvolutionDescriptor_t convDesc, cudnnConvolution##Short##Algo_t algo, void* workSpace,                \
     size_t workSpaceSizeInBytes, const void* beta, C cDesc, void* c))

// X(name, return type, (parameters)) for every function convkit resolves. REQUIRED ones must all resolve
// for cuDNN to count as loaded; OPTIONAL ones (deprecated in cuDNN 9, may disappear in a later 9.x) are
// resolved when present and checked before use.
#define CK_CUDNN_REQUIRED(X)                                                                                      \
  X(cudnnGetVersion, size_t, (void))                                                                              \
  X(cudnnGetErrorString, const char*, (cudnnStatus_t status))                                                     \
  X(cudnnCreate, cudnnStatus_t, (cudnnHandle_t * handle))                                                         \
  X(cudnnDestroy, cudnnStatus_t, (cudnnHandle_t handle))                                                          \
  X(cudnnSetStream, cudnnStatus_t, (cudnnHandle_t handle, cudaStream_t stream))                                   \
  X(cudnnCreateTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t * desc))                                 \
  X(cudnnSetTensor4dDescriptor, cudnnStatus_t,                                                                    \
    (cudnnTensorDescriptor_t desc, cudnnTensorFormat_t format, cudnnDataType_t dataType, int n, int c, int h, int w)) \
  X(cudnnDestroyTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t desc))                                  \
  X(cudnnCreateFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t * desc))                                 \
  X(cudnnSetFilter4dDescriptor, cudnnStatus_t,                                                                    \
    (cudnnFilterDescriptor_t desc, cudnnDataType_t dataType, cudnnTensorFormat_t format, int k, int c, int h, int w)) \
  X(cudnnDestroyFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t desc))                                  \
  X(cudnnCreateConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t * desc))                       \
  X(cudnnSetConvolution2dDescriptor, cudnnStatus_t,                                                               \
    (cudnnConvolutionDescriptor_t desc, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w,       \
     cudnnConvolutionMode_t mode, cudnnDataType_t computeType))                                                   \
  X(cudnnSetConvolutionGroupCount, cudnnStatus_t, (cudnnConvolutionDescriptor_t desc, int groupCount))            \
  X(cudnnSetConvolutionMathType, cudnnStatus_t, (cudnnConvolutionDescriptor_t desc, cudnnMathType_t mathType))    \
  X(cudnnDestroyConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t desc))                        \
  CK_CUDNN_CONV_DIRECTION(X, Forward, Fwd, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t)\
  CK_CUDNN_CONV_DIRECTION(X, BackwardData, BwdData, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t,             \
                          cudnnTensorDescriptor_t)                                                                \
  CK_CUDNN_CONV_DIRECTION(X, BackwardFilter, BwdFilter, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t,         \
                          cudnnFilterDescriptor_t)                                                                \
  X(cudnnAddTensor, cudnnStatus_t,                                                                                \
    (cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t aDesc, const void* A, const void* beta,     \
     cudnnTensorDescriptor_t cDesc, void* C))

#define CK_CUDNN_OPTIONAL(X)                                                                                      \
  X(cudnnConvolutionBackwardBias, cudnnStatus_t,                                                                  \
    (cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t dyDesc, const void* dy, const void* beta,   \
     cudnnTensorDescriptor_t dbDesc, void* db))                                                                   \
  X(cudnnBatchNormalizationForwardTraining, cudnnStatus_t,                                                        \
    (cudnnHandle_t handle, cudnnBatchNormMode_t mode, const void* alpha, const void* beta,                        \
     cudnnTensorDescriptor_t xDesc, const void* x, cudnnTensorDescriptor_t yDesc, void* y,                        \
     cudnnTensorDescriptor_t bnScaleBiasMeanVarDesc, const void* bnScale, const void* bnBias,                     \
     double exponentialAverageFactor, void* resultRunningMean, void* resultRunningVariance, double epsilon,       \
     void* resultSaveMean, void* resultSaveInvVariance))                                                          \
  X(cudnnBatchNormalizationForwardInference, cudnnStatus_t,                                                       \
    (cudnnHandle_t handle, cudnnBatchNormMode_t mode, const void* alpha, const void* beta,                        \
     cudnnTensorDescriptor_t xDesc, const void* x, cudnnTensorDescriptor_t yDesc, void* y,                        \
     cudnnTensorDescriptor_t bnScaleBiasMeanVarDesc, const void* bnScale, const void* bnBias,                     \
     const void* estimatedMean, const void* estimatedVariance, double epsilon))                                   \
  X(cudnnBatchNormalizationBackward, cudnnStatus_t,                                                               \
    (cudnnHandle_t handle, cudnnBatchNormMode_t mode, const void* alphaDataDiff, const void* betaDataDiff,        \
     const void* alphaParamDiff, const void* betaParamDiff, cudnnTensorDescriptor_t xDesc, const void* x,         \
     cudnnTensorDescriptor_t dyDesc, const void* dy, cudnnTensorDescriptor_t dxDesc, void* dx,                    \
     cudnnTensorDescriptor_t dBnScaleBiasDesc, const void* bnScale, void* dBnScaleResult, void* dBnBiasResult,    \
     double epsilon, const void* savedMean, const void* savedInvVariance))
