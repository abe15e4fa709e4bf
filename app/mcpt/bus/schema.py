"""The Python module of NVIDIA's `nv` schema (nv_schema.proto), compiled at build time.

`make install` runs grpcio-tools' protoc over nv_schema.proto into nv_schema_pb2.py beside it. An
install without that step compiles it here on first use when grpcio-tools is importable (into the
package, or a user cache where the package is read-only); otherwise the error says what to run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from mcpt.errors import InputError

PROTO = Path(__file__).with_name("nv_schema.proto")
MODULE = "mcpt.bus.nv_schema_pb2"


def compile_schema(out_dir: Path) -> Path:
    """nv_schema_pb2.py from nv_schema.proto into ``out_dir`` with grpcio-tools' protoc."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/timestamp.proto
    code = protoc.main(["protoc", f"-I{PROTO.parent}", f"-I{include}", f"--python_out={out_dir}", PROTO.name])
    if code != 0:
        raise InputError(PROTO, f"protoc failed (exit {code})")
    return out_dir / "nv_schema_pb2.py"


def nv_schema() -> ModuleType:
    try:
        return importlib.import_module(MODULE)
    except ImportError:
        pass
    if importlib.util.find_spec("grpc_tools") is None:
        raise InputError(
            PROTO, "the nv schema module is not built: run `make install` (protoc from grpcio-tools compiles it)"
        )
    try:
        path = compile_schema(PROTO.parent)
    except OSError:  # a read-only install
        path = compile_schema(Path.home() / ".cache" / "mcpt" / "proto")
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    return module
