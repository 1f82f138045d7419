# C types of record_walk.py when Cython compiles it (pure Python mode: this file augments the module and
# is ignored otherwise). The records section is a typed memoryview: with boundscheck on (record_walk.py's
# directive line) every byte read is checked against its length. Positions are Py_ssize_t, decoded values
# long long, so nothing a 5- or 10-byte varint decodes to can overflow them.

cimport cython


@cython.locals(
    keyless=list, position=Py_ssize_t, index=Py_ssize_t, byte=int, length=cython.longlong, end=Py_ssize_t,
    length_end=Py_ssize_t, offset_delta=cython.longlong, null_key=bint, size=cython.longlong,
    headers=cython.longlong, _=cython.longlong,
)
cdef list _walk(const unsigned char[::1] data, Py_ssize_t total, Py_ssize_t count, bint require_keys)


@cython.locals(bits=int, value=cython.ulonglong, shift=int, byte=cython.ulonglong, _=int)
cdef (long long, Py_ssize_t) _varint(const unsigned char[::1] data, Py_ssize_t position, int max_bytes) except *


@cython.locals(size=cython.longlong, _=cython.longlong)
cdef Py_ssize_t _skip_headers(
    const unsigned char[::1] data, Py_ssize_t position, Py_ssize_t end, long long count, Py_ssize_t index
) except -1
