// Every N-API entry point of the addon, one line each: its JS name (a member of lib/binding.ts's Native,
// which types it) and the C++ function that implements it, in the file named above its group. addon.cc
// registers the whole list, each wrapped in napi_guard (errors.h), so nothing else lists entry points.
#pragma once
#include <napi.h>

#define CK_ENTRY_POINTS(X)                                       \
  /* tensor_ops.cc */                                      \
  X(alloc, Alloc)                                          \
  X(upload, Upload)                                        \
  X(download, Download)                                    \
  X(copyBytes, CopyBytes)                                  \
  X(unary, Unary)                                          \
  X(binary, Binary)                                        \
  X(reduce, Reduce)                                        \
  X(copy, Copy)                                            \
  X(fill, Fill)                                            \
  X(random, Random)                                        \
  X(gemm, Gemm)                                            \
  /* nn_ops.cc */                                          \
  X(conv2dForward, Conv2dForward)                          \
  X(conv2dBackwardData, Conv2dBackwardData)                \
  X(conv2dBackwardWeight, Conv2dBackwardWeight)            \
  X(batchNormTrain, BatchNormTrain)                        \
  X(batchNormEval, BatchNormEval)                          \
  X(batchNormBackward, BatchNormBackward)                  \
  X(maxPoolForward, MaxPoolForward)                        \
  X(maxPoolBackward, MaxPoolBackward)                      \
  X(avgPoolForward, AvgPoolForward)                        \
  X(avgPoolBackward, AvgPoolBackward)                      \
  X(adaptiveAvgPoolForward, AdaptiveAvgPoolForward)        \
  X(adaptiveAvgPoolBackward, AdaptiveAvgPoolBackward)      \
  X(biasReluForward, BiasReluForward)                      \
  X(biasReluBackward, BiasReluBackward)                    \
  X(addReluForward, AddReluForward)                        \
  X(reluBackward, ReluBackward)                            \
  X(softmaxForward, SoftmaxForward)                        \
  X(softmaxBackward, SoftmaxBackward)                      \
  X(nllForward, NllForward)                                \
  X(nllBackward, NllBackward)                              \
  X(crossEntropyForward, CrossEntropyForward)              \
  X(crossEntropyBackward, CrossEntropyBackward)            \
  X(dropoutForward, DropoutForward)                        \
  /* cudnn_ops.cc */                                       \
  X(cudnnInfo, CudnnInfo)                                  \
  X(cudnnSetOptions, CudnnSetOptions)                      \
  X(cudnnConv2dForward, CudnnConv2dForward)                \
  X(cudnnConv2dBackwardData, CudnnConv2dBackwardData)      \
  X(cudnnConv2dBackwardWeight, CudnnConv2dBackwardWeight)  \
  /* optim_ops.cc */                                       \
  X(sgdStep, SgdStep)                                      \
  X(adamStep, AdamStep)                                    \
  X(adamHyperUpload, AdamHyperUpload)                      \
  X(rmspropStep, RmspropStep)                              \
  /* data_ops.cc */                                        \
  X(batchAugment, BatchAugment)                            \
  /* bench_ops.cc */                                       \
  X(measurePeak, MeasurePeak)                              \
  X(cudaTimerStart, CudaTimerStart)                        \
  X(cudaTimerStop, CudaTimerStop)                          \
  /* emu_ops.cc */                                         \
  X(emuSetSchedule, EmuSetSchedule)                        \
  X(emuSetChecks, EmuSetChecks)                            \
  X(emuSetDevices, EmuSetDevices)                            \
  /* cuda_stats.cc */                                      \
  X(cudaStatsSet, CudaStatsSet)                            \
  X(cudaStats, CudaStats)                                  \
  X(cudaSetMath, CudaSetMath)                              \
  X(cudaConvTuning, CudaConvTuning)                        \
  X(cudaDeviceProps, CudaDeviceProps)                      \
  /* dist_ops.cc */                                        \
  X(distInfo, DistInfo)                                    \
  X(distInit, DistInit)                                    \
  X(distDestroy, DistDestroy)                              \
  X(distSubmit, DistSubmit)                                \
  X(distWait, DistWait)                                    \
  X(distPoll, DistPoll)                                    \
  /* index_ops.cc */                                      \
  X(cat, Cat)                                              \
  X(where, Where)                                          \
  X(clampTensor, ClampTensor)                              \
  X(clampTensorBackward, ClampTensorBackward)              \
  X(gather, Gather)                                        \
  X(scatter, Scatter)                                      \
  X(sort, Sort)                                            \
  /* addon.cc */                                           \
  X(buildInfo, BuildInfo)                                  \
  X(cudaInfo, CudaInfo)                                    \
  X(synchronize, Synchronize)                              \
  X(memoryStats, MemoryStats)                              \
  X(emptyCache, EmptyCache)                                \
  X(externalMemory, ExternalMemory)                        \
  X(setNumThreads, SetNumThreads)                          \
  X(getNumThreads, GetNumThreads)                          \
  /* cuda_runtime_ops.cc */                                \
  X(allocPinned, AllocPinned)                              \
  X(cudaMemory, CudaMemory)                                \
  X(cudaEmptyCache, CudaEmptyCache)                        \
  X(cudaSetMemoryFraction, CudaSetMemoryFraction)          \
  X(cudaGraphBegin, CudaGraphBegin)                        \
  X(cudaGraphEnd, CudaGraphEnd)                            \
  X(cudaGraphReplay, CudaGraphReplay)                      \
  X(cudaGraphDestroy, CudaGraphDestroy)                    \
  X(cudaProbe, CudaProbe)                                  \
  /* conv_algo.cc */                                       \
  X(setConvAlgo, SetConvAlgo)                              \
  X(getConvAlgo, GetConvAlgo)                              \
  /* fused_ops.cc */                                       \
  X(conv2dBnActEval, Conv2dBnActEval)                      \
  X(batchNormReluMaxPool2Train, BatchNormReluMaxPool2Train) \
  X(batchNormReluMaxPool2Backward, BatchNormReluMaxPool2Backward) \
  /* bf16_ops.cc */                                        \
  X(setGemmPrecision, SetGemmPrecision)                    \
  X(gemmBf16Kernel, GemmBf16Kernel)                        \
  X(roundBf16, RoundBf16)

namespace ck {
#define CK_DECLARE_ENTRY(js, fn) Napi::Value fn(const Napi::CallbackInfo& info);
CK_ENTRY_POINTS(CK_DECLARE_ENTRY)
#undef CK_DECLARE_ENTRY
}  // namespace ck
