// liblithe's own part: the layers are linked in whole (CMakeLists.txt, lithe_library); this is
// what a program can ask of the shared object it was loaded with.
#include "lithe/version.hpp"

namespace lithe {

const char* library_version() {
  return version;
}

}  // namespace lithe
