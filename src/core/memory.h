// How much memory this process can still take: the machine's available memory (MemAvailable),
// bounded by the control group's limit when the process runs in a container.
#pragma once

#include <cstdint>

namespace kinema {

// Bytes that can be allocated before the system must swap or kill: /proc/meminfo MemAvailable,
// and, under a cgroup v2 memory limit, no more than memory.max - memory.current. 0 when nothing
// can be read (an unknown limit: callers skip their checks).
uint64_t available_memory_bytes();

}  // namespace kinema
