// A C entry point over mcpt::decode so tests can call it through ctypes (no DeepStream needed).
#include <cstring>

#include "mcpt_decode.h"

extern "C" int mcpt_decode_c(const float* data, int anchors, int netWidth, int netHeight, float threshold,
                             float* out, int maxOut) {
    const auto boxes = mcpt::decode(data, anchors, netWidth, netHeight, threshold);
    const int n = static_cast<int>(boxes.size()) < maxOut ? static_cast<int>(boxes.size()) : maxOut;
    for (int i = 0; i < n; ++i) {
        const mcpt::Box& b = boxes[i];
        const float row[6] = {b.left, b.top, b.width, b.height, b.score, static_cast<float>(b.classId)};
        std::memcpy(out + i * 6, row, sizeof(row));
    }
    return static_cast<int>(boxes.size());
}
