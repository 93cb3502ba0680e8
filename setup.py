"""Build of the C kernels: one Cython extension, OpenMP when the compiler has it.

Environment switches (read at build time):
  PYCONVINFER_NATIVE=1   tune for the building machine (-march=native) instead
                         of the portable x86-64 build with runtime ISA dispatch.
  PYCONVINFER_OPENMP=0   build without OpenMP even if the compiler supports it.
"""
import os
import sys
import tempfile
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Every C file in src/ (one op family, ISA variant or helper each) plus the Cython wrapper.
# (relative paths: setuptools wants them, and the build runs from the project directory)
os.chdir(Path(__file__).resolve().parent)
SOURCES = ["src/_kernels.pyx"] + sorted(p.as_posix() for p in Path("src").glob("*.c") if p.name != "_kernels.c")
# Never -ffast-math / -Ofast: loading such an extension turns on flush-to-zero
# for the whole Python process.
BASE_FLAGS = ["-O3", "-std=c11", "-fno-math-errno", "-Wall", "-Wno-unused-function"]


def _compiler_accepts(compiler, flags: list[str], link_flags: list[str]) -> bool:
    """Compile and link a tiny OpenMP program with the compiler the build uses."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text(
            "#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel reduction(+:n)\n"
            "n+=1; return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;}\n"
        )
        try:
            objs = compiler.compile([str(src)], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=link_flags)
        except Exception:  # noqa: BLE001 - any failure means "no OpenMP"
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        compile_flags = list(BASE_FLAGS)
        link_flags: list[str] = []
        want_openmp = os.environ.get("PYCONVINFER_OPENMP", "1") != "0"
        openmp = want_openmp and _compiler_accepts(self.compiler, ["-fopenmp"], ["-fopenmp"])
        if openmp:
            compile_flags.append("-fopenmp")
            link_flags.append("-fopenmp")
        else:
            compile_flags.append("-fopenmp-simd")  # keeps the `omp simd` hints; gcc and clang know it
            print("pyconvinfer: building WITHOUT OpenMP: kernels will run on one thread", file=sys.stderr)
        native = os.environ.get("PYCONVINFER_NATIVE", "0") == "1"
        if native:
            compile_flags.append("-march=native")
        build = {
            "openmp": openmp,
            "native": native,
            "compile_flags": compile_flags,
            "link_flags": link_flags,
            "compiler": " ".join(getattr(self.compiler, "compiler_so", ["unknown"])[:1]),
        }
        for ext in self.extensions:
            ext.extra_compile_args = compile_flags
            ext.extra_link_args = link_flags
        # Next to the extension, wherever it goes (build dir, or the tree for --inplace).
        out = Path(self.get_ext_fullpath("pyconvinfer._kernels")).parent / "_build_info.py"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# Written by setup.py at build time.\nBUILD = {build!r}\n")
        if self.inplace:  # setuptools builds in build/ and copies only the extension back
            Path(__file__).parent.joinpath("pyconvinfer", "_build_info.py").write_text(out.read_text())
        super().build_extensions()


extensions = [
    Extension(
        "pyconvinfer._kernels",
        SOURCES,
        include_dirs=["src", numpy.get_include()],
        depends=sorted(str(p) for p in Path("src").glob("*.h")),  # rebuild when a header changes
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": 3}),
    cmdclass={"build_ext": BuildExt},
)
