#include "mcpt_decode.h"

#include <algorithm>

namespace mcpt {

static float clampf(float v, float lo, float hi) { return std::max(lo, std::min(v, hi)); }

std::vector<Box> decode(const float* data, int anchors, int netWidth, int netHeight, float threshold) {
    std::vector<Box> out;
    const float w = static_cast<float>(netWidth), h = static_cast<float>(netHeight);
    for (int i = 0; i < anchors; ++i) {
        const float* a = data + static_cast<long>(i) * 6;
        const float score = a[4];
        if (!(score >= threshold)) continue;  // also drops NaN
        const float x1 = clampf(a[0], 0.f, w), y1 = clampf(a[1], 0.f, h);
        const float x2 = clampf(a[2], 0.f, w), y2 = clampf(a[3], 0.f, h);
        if (x2 - x1 < 1.f || y2 - y1 < 1.f) continue;
        out.push_back(Box{x1, y1, x2 - x1, y2 - y1, score, 0u});
    }
    return out;
}

}  // namespace mcpt
