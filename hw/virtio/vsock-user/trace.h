#include "trace/trace-hw_virtio_vsock_user.h"
