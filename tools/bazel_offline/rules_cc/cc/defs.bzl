"""Re-exports Bazel's native C++ rules, so rules_cc resolves with no network."""
cc_library = native.cc_library
cc_binary = native.cc_binary
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
cc_import = native.cc_import
objc_library = native.objc_library
objc_import = native.objc_import
