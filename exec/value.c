#include "exec/value.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char *exec_value_type_name(exec_value_type type)
{
	switch (type) {
	case EXEC_VALUE_NONE: return "none";
	case EXEC_VALUE_I64: return "i64";
	case EXEC_VALUE_U64: return "u64";
	case EXEC_VALUE_F64: return "f64";
	case EXEC_VALUE_PTR: return "ptr";
	case EXEC_VALUE_SPAN: return "span";
	}
	return "invalid";
}

void exec_value_type_mismatch(const exec_value *v, exec_value_type want)
{
	fprintf(stderr, "cexec: value type mismatch: wanted %s, got %s\n",
		exec_value_type_name(want), exec_value_type_name(v->type));
	abort();
}

#define EXEC_DEFINE_GET_(name, tag, type_, field)                        \
	int exec_value_get_##name(const exec_value *v, type_ *out)       \
	{                                                                \
		if (!v || !out || v->type != (tag))                      \
			return -EINVAL;                                  \
		*out = v->as.field;                                      \
		return 0;                                                \
	}

EXEC_DEFINE_GET_(i64, EXEC_VALUE_I64, int64_t, i64)
EXEC_DEFINE_GET_(u64, EXEC_VALUE_U64, uint64_t, u64)
EXEC_DEFINE_GET_(f64, EXEC_VALUE_F64, double, f64)
EXEC_DEFINE_GET_(ptr, EXEC_VALUE_PTR, void *, ptr)
EXEC_DEFINE_GET_(span, EXEC_VALUE_SPAN, exec_span, span)
