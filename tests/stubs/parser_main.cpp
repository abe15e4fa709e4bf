// Calls the real nvinfer glue with a hand-made layer: reads [anchors*6] floats from stdin,
// prints one parsed object per line (left top width height score class).
#include <cstdio>
#include <vector>

#include "nvdsinfer_custom_impl.h"

extern "C" bool NvDsInferParseCustomMcptYolo(std::vector<NvDsInferLayerInfo> const&, NvDsInferNetworkInfo const&,
                                             NvDsInferParseDetectionParams const&,
                                             std::vector<NvDsInferParseObjectInfo>&);

int main(int argc, char** argv) {
    int anchors = 0, w = 0, h = 0;
    float thr = 0;
    if (std::scanf("%d %d %d %f", &anchors, &w, &h, &thr) != 4) return 2;
    std::vector<float> data(static_cast<size_t>(anchors) * 6);
    for (auto& v : data)
        if (std::scanf("%f", &v) != 1) return 2;
    NvDsInferLayerInfo layer{};
    layer.dataType = FLOAT;
    layer.inferDims.numDims = 2;
    layer.inferDims.d[0] = anchors;
    layer.inferDims.d[1] = 6;
    layer.inferDims.numElements = anchors * 6;
    layer.layerName = "detections";
    layer.buffer = data.data();
    NvDsInferNetworkInfo net{static_cast<unsigned>(w), static_cast<unsigned>(h), 3};
    NvDsInferParseDetectionParams params{};
    params.numClassesConfigured = 1;
    params.perClassPreclusterThreshold = {thr};
    std::vector<NvDsInferParseObjectInfo> objs;
    if (!NvDsInferParseCustomMcptYolo({layer}, net, params, objs)) return 1;
    for (auto const& o : objs)
        std::printf("%.4f %.4f %.4f %.4f %.5f %u\n", o.left, o.top, o.width, o.height, o.detectionConfidence, o.classId);
    (void)argc;
    (void)argv;
    return 0;
}
