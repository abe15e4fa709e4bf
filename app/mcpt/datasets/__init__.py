"""Training data from the AIC24 layout: a YOLO detector dataset and a Market-1501 ReID dataset."""
