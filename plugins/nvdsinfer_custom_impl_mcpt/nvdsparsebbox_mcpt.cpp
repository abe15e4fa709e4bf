// nvinfer custom bounding-box parser for mcpt's detector ONNX (output "detections" [B, anchors, 6]).
// Config: parse-bbox-func-name=NvDsInferParseCustomMcptYolo, custom-lib-path=<this .so>,
//         cluster-mode=2 (nvinfer runs NMS), num-detected-classes=1.
#include <cstring>
#include <iostream>
#include <vector>

#include "mcpt_decode.h"
#include "nvdsinfer_custom_impl.h"

static const NvDsInferLayerInfo* findLayer(std::vector<NvDsInferLayerInfo> const& layers) {
    for (auto const& l : layers) {
        if (l.layerName && std::strcmp(l.layerName, "detections") == 0) return &l;
    }
    return layers.empty() ? nullptr : &layers[0];
}

extern "C" bool NvDsInferParseCustomMcptYolo(std::vector<NvDsInferLayerInfo> const& outputLayersInfo,
                                             NvDsInferNetworkInfo const& networkInfo,
                                             NvDsInferParseDetectionParams const& detectionParams,
                                             std::vector<NvDsInferParseObjectInfo>& objectList) {
    const NvDsInferLayerInfo* layer = findLayer(outputLayersInfo);
    if (layer == nullptr || layer->buffer == nullptr) {
        std::cerr << "mcpt parser: no output layer" << std::endl;
        return false;
    }
    // inferDims excludes the batch axis: [anchors, 6]
    if (layer->inferDims.numDims != 2 || layer->inferDims.d[1] != 6 || layer->dataType != FLOAT) {
        std::cerr << "mcpt parser: expected a float tensor [anchors, 6], got " << layer->inferDims.numDims
                  << " dims" << std::endl;
        return false;
    }
    const float threshold = detectionParams.perClassPreclusterThreshold.empty()
                                ? 0.1f
                                : detectionParams.perClassPreclusterThreshold[0];
    const auto boxes = mcpt::decode(static_cast<const float*>(layer->buffer), static_cast<int>(layer->inferDims.d[0]),
                                    static_cast<int>(networkInfo.width), static_cast<int>(networkInfo.height),
                                    threshold);
    objectList.reserve(objectList.size() + boxes.size());
    for (auto const& b : boxes) {
        NvDsInferParseObjectInfo obj{};
        obj.classId = b.classId;
        obj.left = b.left;
        obj.top = b.top;
        obj.width = b.width;
        obj.height = b.height;
        obj.detectionConfidence = b.score;
        objectList.push_back(obj);
    }
    return true;
}

CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(NvDsInferParseCustomMcptYolo);
