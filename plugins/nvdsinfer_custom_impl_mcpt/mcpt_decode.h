// Decoding of mcpt's detector tensor, independent of DeepStream (unit-tested on CPU through
// decode_harness.cpp). Layout, per image: [anchors, 6] = x1, y1, x2, y2, score, class in network
// input pixels; the score is already the best person-class score (see models/README.md).
#pragma once

#include <vector>

namespace mcpt {

struct Box {
    float left, top, width, height, score;
    unsigned int classId;
};

// Boxes with score >= threshold, clamped to the network input, smaller than 1 px dropped.
// Every box is reported as class 0 (person): the export already folded the person classes.
std::vector<Box> decode(const float* data, int anchors, int netWidth, int netHeight, float threshold);

}  // namespace mcpt
