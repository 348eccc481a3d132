// Every Python C-API symbol the Python bridge (compiler_bridge.cc: compiling, and the jax.profiler
// XSpace) references, declared weak. The plugin is loaded into a Python process whose interpreter provides these symbols; in a process without Python
// (a C++ PJRT host, the API tests) they resolve to null instead of failing dlopen, and the bridge
// checks &Py_IsInitialized before touching any of them.
//
// Regenerate after changing compiler_bridge.cc: list the Python symbols its object references,
//   nm -u <bazel-bin>/pjrt_plugin/_objs/api/compiler_bridge.pic.o | awk '$2 ~ /^_?Py/ {print $2}'
// and declare each weak below. api_plugin_test fails if the built plugin has a strong undefined
// Python symbol (it could not be loaded without Python).
#pragma once

#pragma weak PyBaseObject_Type
#pragma weak PyByteArray_AsString
#pragma weak PyByteArray_Size
#pragma weak PyByteArray_Type
#pragma weak PyBytes_AsString
#pragma weak PyBytes_AsStringAndSize
#pragma weak PyBytes_FromStringAndSize
#pragma weak PyBytes_Size
#pragma weak PyCFunction_Type
#pragma weak PyCMethod_New
#pragma weak PyCapsule_GetContext
#pragma weak PyCapsule_GetName
#pragma weak PyCapsule_GetPointer
#pragma weak PyCapsule_New
#pragma weak PyCapsule_SetContext
#pragma weak PyCapsule_SetPointer
#pragma weak PyCapsule_Type
#pragma weak PyDict_Copy
#pragma weak PyDict_DelItemString
#pragma weak PyDict_GetItemWithError
#pragma weak PyDict_New
#pragma weak PyDict_Next
#pragma weak PyDict_Size
#pragma weak PyDict_Type
#pragma weak PyErr_Clear
#pragma weak PyErr_Fetch
#pragma weak PyErr_Format
#pragma weak PyErr_NormalizeException
#pragma weak PyErr_Occurred
#pragma weak PyErr_Restore
#pragma weak PyErr_SetString
#pragma weak PyErr_WarnEx
#pragma weak PyErr_WriteUnraisable
#pragma weak PyEval_AcquireThread
#pragma weak PyEval_GetBuiltins
#pragma weak PyEval_SaveThread
#pragma weak PyExc_FutureWarning
#pragma weak PyExc_IndexError
#pragma weak PyExc_MemoryError
#pragma weak PyExc_OverflowError
#pragma weak PyExc_RuntimeError
#pragma weak PyExc_SystemError
#pragma weak PyExc_TypeError
#pragma weak PyExc_ValueError
#pragma weak PyException_SetCause
#pragma weak PyException_SetContext
#pragma weak PyException_SetTraceback
#pragma weak PyFloat_FromDouble
#pragma weak PyFrame_GetBack
#pragma weak PyFrame_GetCode
#pragma weak PyFrame_GetLineNumber
#pragma weak PyGILState_Check
#pragma weak PyGILState_Ensure
#pragma weak PyGILState_GetThisThreadState
#pragma weak PyGILState_Release
#pragma weak PyImport_ImportModule
#pragma weak PyInstanceMethod_New
#pragma weak PyInstanceMethod_Type
#pragma weak PyList_Append
#pragma weak PyList_New
#pragma weak PyList_Size
#pragma weak PyLong_FromLong
#pragma weak PyLong_FromSsize_t
#pragma weak PyMem_Calloc
#pragma weak PyMem_Free
#pragma weak PyMemoryView_Type
#pragma weak PyObject_CallFunctionObjArgs
#pragma weak PyObject_CallObject
#pragma weak PyObject_ClearWeakRefs
#pragma weak PyObject_GC_UnTrack
#pragma weak PyObject_GetAttrString
#pragma weak PyObject_HasAttrString
#pragma weak PyObject_IsInstance
#pragma weak PyObject_Repr
#pragma weak PyObject_SetAttrString
#pragma weak PyObject_SetItem
#pragma weak PyObject_Str
#pragma weak PyProperty_Type
#pragma weak PyThreadState_Clear
#pragma weak PyThreadState_DeleteCurrent
#pragma weak PyThreadState_Get
#pragma weak PyThreadState_New
#pragma weak PyThread_tss_alloc
#pragma weak PyThread_tss_create
#pragma weak PyThread_tss_get
#pragma weak PyThread_tss_set
#pragma weak PyTuple_GetItem
#pragma weak PyTuple_New
#pragma weak PyTuple_SetItem
#pragma weak PyTuple_Size
#pragma weak PyType_IsSubtype
#pragma weak PyType_Ready
#pragma weak PyType_Type
#pragma weak PyUnicode_AsEncodedString
#pragma weak PyUnicode_AsUTF8AndSize
#pragma weak PyUnicode_AsUTF8String
#pragma weak PyUnicode_FromString
#pragma weak PyUnicode_FromStringAndSize
#pragma weak PyWeakref_NewRef
#pragma weak Py_IsInitialized
#pragma weak _PyObject_GetDictPtr
#pragma weak _PyThreadState_UncheckedGet
#pragma weak _PyType_Lookup
#pragma weak _Py_Dealloc
#pragma weak _Py_NoneStruct
#pragma weak _Py_NotImplementedStruct
