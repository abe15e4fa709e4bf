# mcpt on NVIDIA DeepStream 7.1 (Ubuntu 22.04, Python 3.10, CUDA 12.6, TensorRT 10.3).
#
#   docker build -t mcpt:ds7.1 .
#   docker run --gpus all -it --rm -v $PWD/models:/opt/mcpt/models -v /data:/data mcpt:ds7.1
#
# DeepStream 8.0 (Ubuntu 24.04, Python 3.12, CUDA 12.8, pyds 1.2.2):
#   docker build --build-arg DS_IMAGE=nvcr.io/nvidia/deepstream:8.0-triton-multiarch \
#                --build-arg PYDS_VERSION=1.2.2 --build-arg PYDS_PY=cp312 --build-arg CUDA_VER=12.8 -t mcpt:ds8.0 .
# (on 8.0 pip refuses system-wide installs: the image runs mcpt from a venv made with
#  --system-site-packages so gi and pyds stay visible; see VENV below)
ARG DS_IMAGE=nvcr.io/nvidia/deepstream:7.1-triton-multiarch
FROM ${DS_IMAGE}

ARG PYDS_VERSION=1.2.0
# the CPython tag of the image's Python, for the pyds release wheel's name (7.1: 3.10, 8.0: 3.12 -> cp312)
ARG PYDS_PY=cp310
ARG CUDA_VER=12.6
ENV DEBIAN_FRONTEND=noninteractive \
    MCPT_HOME=/opt/mcpt \
    VENV=/opt/mcpt-venv \
    PATH=/opt/mcpt-venv/bin:$PATH

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-pip python3-venv python3-dev python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 \
        libgirepository1.0-dev libcairo2-dev pkg-config g++ make git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Extra codecs NVIDIA leaves out of the image (documented post-install step of the DeepStream containers)
RUN /opt/nvidia/deepstream/deepstream/user_additional_install.sh || true

# A venv that still sees the system's gi (GStreamer bindings) and, below, pyds
RUN python3 -m venv --system-site-packages ${VENV} && ${VENV}/bin/pip install --upgrade pip

# NVIDIA's DeepStream Python bindings, the way NVIDIA documents for the containers (the release wheel of
# deepstream_python_apps). Never `pip install pyds`: that PyPI name is an unrelated package.
RUN /opt/nvidia/deepstream/deepstream/user_deepstream_python_apps_install.sh --version ${PYDS_VERSION} \
    || ${VENV}/bin/pip install \
       "https://github.com/NVIDIA-AI-IOT/deepstream_python_apps/releases/download/v${PYDS_VERSION}/pyds-${PYDS_VERSION}-${PYDS_PY}-${PYDS_PY}-linux_x86_64.whl"

WORKDIR ${MCPT_HOME}
COPY pyproject.toml README.md ./
COPY app ./app
COPY export ./export
COPY deepstream_configs ./deepstream_configs
COPY plugins ./plugins
COPY models/models.yaml models/README.md ./models/

# pyds is built against numpy 1.x ("numpy 2.x is not supported", deepstream_python_apps README): the
# constraints hold it below 2 for every later install (opencv-python-headless >= 4.12 would pull numpy 2)
RUN printf 'numpy<2\nopencv-python-headless<4.12\n' > /opt/mcpt-constraints.txt
ENV PIP_CONSTRAINT=/opt/mcpt-constraints.txt
RUN ${VENV}/bin/pip install onnx \
    && ${VENV}/bin/pip install -e . \
    && ${VENV}/bin/pip install --no-deps trackeval==1.3.0 \
    && ${VENV}/bin/python -c "import numpy, pyds, gi; assert numpy.__version__ < '2', numpy.__version__; print('pyds ok, numpy', numpy.__version__)"

# The nvinfer bounding-box parser for mcpt's detector
RUN CUDA_VER=${CUDA_VER} make -C plugins/nvdsinfer_custom_impl_mcpt

# Models: export ONNX on any machine (`make models`), mount them at /opt/mcpt/models, then inside:
#   mcpt engines --cameras 4                      # TensorRT engines beside the ONNX files
#   mcpt run /data/videos/test/scene_061 --backend deepstream --out /data/results/scene_061.txt
#   mcpt ds-config /data/videos/test/scene_061 --out /data/ds/scene_061 && deepstream-app -c /data/ds/scene_061/deepstream_app.txt
CMD ["bash"]
