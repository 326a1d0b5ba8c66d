/* exec/value.h - the small typed values that travel on the value channel.
 *
 * A completion carries an array of exec_value (pointer + count). The array
 * lives only for the duration of the set_value call: a receiver that needs
 * the values later copies them (they are plain 24-byte structs).
 * A byte span is borrowed, never owned: the sender that produced it says how
 * long the bytes stay valid. */
#ifndef EXEC_VALUE_H
#define EXEC_VALUE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum exec_value_type {
	EXEC_VALUE_NONE = 0,
	EXEC_VALUE_I64,
	EXEC_VALUE_U64,
	EXEC_VALUE_F64,
	EXEC_VALUE_PTR,
	EXEC_VALUE_SPAN,
} exec_value_type;

typedef struct exec_span {
	void *ptr;
	size_t len;
} exec_span;

typedef struct exec_value {
	exec_value_type type;
	union {
		int64_t i64;
		uint64_t u64;
		double f64;
		void *ptr;
		exec_span span;
	} as;
} exec_value;

/* Name of a value type ("i64", "span", ...), for messages. */
const char *exec_value_type_name(exec_value_type type);

/* Constructors. The union is cleared through its widest member and then
 * the value written, field by field: a brace initialiser makes GCC build
 * the struct on the stack and copy it back with a 16-byte load that misses
 * store forwarding (about 10 cycles per value on x86-64); this form stores
 * straight into the destination. */
static inline exec_value exec_value_i64(int64_t v)
{
	exec_value x;
	x.type = EXEC_VALUE_I64;
	x.as.span.ptr = NULL;
	x.as.span.len = 0;
	x.as.i64 = v;
	return x;
}
static inline exec_value exec_value_u64(uint64_t v)
{
	exec_value x;
	x.type = EXEC_VALUE_U64;
	x.as.span.ptr = NULL;
	x.as.span.len = 0;
	x.as.u64 = v;
	return x;
}
static inline exec_value exec_value_f64(double v)
{
	exec_value x;
	x.type = EXEC_VALUE_F64;
	x.as.span.ptr = NULL;
	x.as.span.len = 0;
	x.as.f64 = v;
	return x;
}
static inline exec_value exec_value_ptr(void *v)
{
	exec_value x;
	x.type = EXEC_VALUE_PTR;
	x.as.span.ptr = NULL;
	x.as.span.len = 0;
	x.as.ptr = v;
	return x;
}
static inline exec_value exec_value_span(void *ptr, size_t len)
{
	exec_value x;
	x.type = EXEC_VALUE_SPAN;
	x.as.span.ptr = ptr;
	x.as.span.len = len;
	return x;
}

/* Checked access: 0 and *out set, or -EINVAL when v is NULL or holds
 * another type. Always checked, in every build. */
int exec_value_get_i64(const exec_value *v, int64_t *out);
int exec_value_get_u64(const exec_value *v, uint64_t *out);
int exec_value_get_f64(const exec_value *v, double *out);
int exec_value_get_ptr(const exec_value *v, void **out);
int exec_value_get_span(const exec_value *v, exec_span *out);

/* Fast access for code that knows the type. Debug builds (no NDEBUG) abort
 * with a message naming both types on a mismatch; release builds trust the
 * caller. */
void exec_value_type_mismatch(const exec_value *v, exec_value_type want);
#ifdef NDEBUG
#define EXEC_VALUE_CHECK_(v, t) ((void)0)
#else
#define EXEC_VALUE_CHECK_(v, t) \
	((v)->type == (t) ? (void)0 : exec_value_type_mismatch((v), (t)))
#endif
static inline int64_t exec_value_as_i64(const exec_value *v)
{
	EXEC_VALUE_CHECK_(v, EXEC_VALUE_I64);
	return v->as.i64;
}
static inline uint64_t exec_value_as_u64(const exec_value *v)
{
	EXEC_VALUE_CHECK_(v, EXEC_VALUE_U64);
	return v->as.u64;
}
static inline double exec_value_as_f64(const exec_value *v)
{
	EXEC_VALUE_CHECK_(v, EXEC_VALUE_F64);
	return v->as.f64;
}
static inline void *exec_value_as_ptr(const exec_value *v)
{
	EXEC_VALUE_CHECK_(v, EXEC_VALUE_PTR);
	return v->as.ptr;
}
static inline exec_span exec_value_as_span(const exec_value *v)
{
	EXEC_VALUE_CHECK_(v, EXEC_VALUE_SPAN);
	return v->as.span;
}

#ifdef __cplusplus
}
#endif
#endif
