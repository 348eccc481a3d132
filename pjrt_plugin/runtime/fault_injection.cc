#include "pjrt_plugin/runtime/fault_injection.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace chip {

Status TakeInjectedFault(const std::string& program) {
  static const std::string path = [] {
    const char* p = std::getenv("CHIP_FAULT_INJECT_FILE");
    return std::string(p != nullptr ? p : "");
  }();
  if (path.empty()) return Status::Ok();
  std::string match;
  {
    std::ifstream in(path);
    if (!in) return Status::Ok();
    std::getline(in, match);
  }
  if (!match.empty() && match.back() == '\r') match.pop_back();
  if (program.find(match) == std::string::npos) return Status::Ok();
  if (std::remove(path.c_str()) != 0) return Status::Ok();  // another execution took it
  return Internal("injected chip fault (CHIP_FAULT_INJECT_FILE=" + path + ") executing '" + program + "'");
}

}  // namespace chip
