// Test stand-in for DeepStream's nvdsinfer_custom_impl.h / nvdsinfer.h: only the declarations the
// parser uses, with the layouts DeepStream documents. Lets the glue compile and run on CPU.
#pragma once
#include <vector>

#define NVDSINFER_MAX_DIMS 8

typedef enum { FLOAT = 0, HALF = 1, INT8 = 2, INT32 = 3 } NvDsInferDataType;

typedef struct {
    unsigned int numDims;
    unsigned int d[NVDSINFER_MAX_DIMS];
    unsigned int numElements;
} NvDsInferDims;

typedef struct {
    NvDsInferDataType dataType;
    union {
        NvDsInferDims inferDims;
        NvDsInferDims dims;
    };
    int bindingIndex;
    const char* layerName;
    void* buffer;
    int isInput;
} NvDsInferLayerInfo;

typedef struct {
    unsigned int width;
    unsigned int height;
    unsigned int channels;
} NvDsInferNetworkInfo;

typedef struct {
    unsigned int classId;
    float left;
    float top;
    float width;
    float height;
    float detectionConfidence;
} NvDsInferObjectDetectionInfo;
typedef NvDsInferObjectDetectionInfo NvDsInferParseObjectInfo;

typedef struct {
    unsigned int numClassesConfigured;
    std::vector<float> perClassPreclusterThreshold;
    std::vector<float> perClassPostclusterThreshold;
} NvDsInferParseDetectionParams;

typedef bool (*NvDsInferParseCustomFunc)(std::vector<NvDsInferLayerInfo> const& outputLayersInfo,
                                         NvDsInferNetworkInfo const& networkInfo,
                                         NvDsInferParseDetectionParams const& detectionParams,
                                         std::vector<NvDsInferObjectDetectionInfo>& objectList);

#define CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(customParseFunc)                                              \
    static void checkFunc_##customParseFunc(NvDsInferParseCustomFunc func = customParseFunc) {         \
        checkFunc_##customParseFunc();                                                                  \
    };                                                                                                  \
    extern "C" bool customParseFunc(std::vector<NvDsInferLayerInfo> const& outputLayersInfo,            \
                                    NvDsInferNetworkInfo const& networkInfo,                            \
                                    NvDsInferParseDetectionParams const& detectionParams,               \
                                    std::vector<NvDsInferObjectDetectionInfo>& objectList);
