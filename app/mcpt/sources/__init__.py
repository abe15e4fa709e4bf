"""Camera sources: video files and RTSP streams decoded in their own threads, read in lockstep."""
