"""A stand-in for the Gst module: elements record their properties, links, pads and probes."""

from __future__ import annotations


class FakePad:
    def __init__(self, owner, name) -> None:
        self.owner, self.name = owner, name
        self.probes = []
        self.peer = None

    def add_probe(self, kind, callback, data):
        self.probes.append((kind, callback, data))
        return len(self.probes)

    def link(self, other):
        self.peer = other
        return 0

    def is_linked(self):
        return self.peer is not None


class FakeElement:
    def __init__(self, factory: str, name: str) -> None:
        self.factory, self.name = factory, name
        self.props = {}
        self.linked_to = None
        self.request_pads = []
        self.signals = []
        self.pads = {}

    def set_property(self, key, value):
        self.props[key] = value

    def get_name(self):
        return self.name

    def link(self, other):
        self.linked_to = other
        return True

    def request_pad_simple(self, name):
        pad = FakePad(self, name)
        self.request_pads.append(pad)
        return pad

    def get_static_pad(self, name):
        return self.pads.setdefault(name, FakePad(self, name))

    def connect(self, signal, callback, *data):
        self.signals.append((signal, callback, data))


class FakePipeline:
    def __init__(self, name) -> None:
        self.name = name
        self.elements = []

    def add(self, e):
        self.elements.append(e)


class FakeGst:
    """Only the factories DeepStream provides are known; others return None like the real registry."""

    KNOWN = frozenset(
        {
            "nvstreammux",
            "nvurisrcbin",
            "nvinfer",
            "nvtracker",
            "queue",
            "fakesink",
            "nvmultistreamtiler",
            "nvvideoconvert",
            "nvdsosd",
            "capsfilter",
            "nvv4l2h264enc",
            "h264parse",
            "qtmux",
            "filesink",
            "rtph264pay",
            "udpsink",
        }
    )

    class PadProbeType:
        BUFFER = 16
        EVENT_DOWNSTREAM = 512

    class Caps:
        @staticmethod
        def from_string(s):
            return ("caps", s)

    class Pipeline:
        @staticmethod
        def new(name):
            return FakePipeline(name)

    def __init__(self, missing=()) -> None:
        self.missing = set(missing)
        gst = self

        class ElementFactory:
            @staticmethod
            def make(factory, name):
                if factory not in gst.KNOWN or factory in gst.missing:
                    return None
                return FakeElement(factory, name)

        self.ElementFactory = ElementFactory
