#include "trace/trace-hw_nitro.h"
