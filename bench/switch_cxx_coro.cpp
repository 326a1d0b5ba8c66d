// bench/switch_cxx_coro.cpp - the C++20 coroutine baseline of bench/switch:
// a coroutine that suspends forever in a loop; one resume runs it from one
// co_await to the next. Built with g++ -std=c++20 -fcoroutines when
// bench/CMakeLists.txt finds a compiler that accepts it; the bench then
// defines CEXEC_HAVE_CXX_CORO.
#include <coroutine>

namespace {

struct task {
	struct promise_type {
		task get_return_object()
		{
			return task{std::coroutine_handle<promise_type>::from_promise(*this)};
		}
		std::suspend_always initial_suspend() noexcept { return {}; }
		std::suspend_always final_suspend() noexcept { return {}; }
		void return_void() {}
		void unhandled_exception() {}
	};
	std::coroutine_handle<promise_type> h;
};

task counting(long *counter)
{
	for (;;) {
		++*counter;
		co_await std::suspend_always{};
	}
}

} // namespace

extern "C" {

void *cexec_bench_cxx_coro_create(long *counter)
{
	return counting(counter).h.address();
}

// Not inlined into the timing loop (it lives in this object), so each
// resume is a real indirect call into the coroutine's resume function.
void cexec_bench_cxx_coro_resume_n(void *h, long n)
{
	auto c = std::coroutine_handle<>::from_address(h);
	for (long i = 0; i < n; i++)
		c.resume();
}

void cexec_bench_cxx_coro_destroy(void *h)
{
	std::coroutine_handle<>::from_address(h).destroy();
}
}
