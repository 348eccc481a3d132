// Compilation entry points (StableHLO -> chip executable), see compile.cc.
#pragma once

#include "xla/pjrt/c/pjrt_c_api.h"

namespace chip::api {

PJRT_Error* ClientCompile(PJRT_Client_Compile_Args* args);
PJRT_Error* Compile(PJRT_Compile_Args* args);

}  // namespace chip::api
