// Files that survive a crash: a result, report or checkpoint is written to a unique temporary file
// in its own folder (mkstemp, named after the writer's PID, so two runs writing into one folder never share one), every write is
// checked, the file is fsync'ed, renamed over the target and the folder fsync'ed. A kill at any
// moment leaves the old file or the new one whole, never a mix; a failed write throws and leaves
// the old file in place (and no temporary behind).
#pragma once
#include <string>
#include <string_view>

namespace rngfree {

// Writes bytes to path atomically (creating missing parent folders). Throws rngfree::Error naming
// the path and the system's reason (no space left on device, permission denied, ...).
void write_file_atomic(const std::string& path, std::string_view bytes);

// A kill -9 inside write_file_atomic leaves its temporary (".NAME.tmp.PID.XXXXXX") behind. Removes
// those in `dir` whose writer (PID) is no longer running on this machine, and returns how many; a
// missing folder is none. Temporaries of running writers, and any other file, are left alone.
int remove_abandoned_temporaries(const std::string& dir);

}  // namespace rngfree
