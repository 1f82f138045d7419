"""kopfka's one compiled module: the record walk (``broker/kafka_broker/storage/record_walk.py``).

Everything else about the distribution is in pyproject.toml. Cython (a build requirement there) compiles
the walk's plain-Python source, typed by the ``record_walk.pxd`` beside it, into a C extension. The
extension is optional: where it cannot be compiled (no C compiler or no Python headers), setuptools warns
and the module is installed as plain Python only, which behaves the same, slower (see its docstring).
"""

from setuptools import Extension, setup

WALK = "broker/kafka_broker/storage/record_walk"

try:
    from Cython.Build import cythonize
except ImportError:  # built without build isolation, in an environment without Cython: plain Python
    extensions = []
else:
    extensions = cythonize(
        [Extension("kafka_broker.storage.record_walk", [f"{WALK}.py"], depends=[f"{WALK}.pxd"])],
        build_dir="build/cython",  # the generated C stays out of the source tree
    )
    for extension in extensions:
        extension.optional = True  # set after cythonize(), which does not carry it over from its input

setup(ext_modules=extensions)
