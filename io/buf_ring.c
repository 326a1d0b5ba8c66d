/* Provided buffer rings: a pool of equal buffers the kernel picks from when
 * data arrives (IOSQE_BUFFER_SELECT), so a connection waiting for data holds
 * none. Debian's liburing 2.3 has no io_uring_setup_buf_ring, so the ring is
 * mmap'd here (page aligned, as the kernel requires) and registered with
 * io_uring_register_buf_ring. On the epoll backend the same buffers are a
 * stack of free ids that the emulated recv pops when the socket is ready. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/io.h"
#include "schedulers/io_loop_internal.h"

int exec_io_buf_ring_create(exec_io_loop *loop, unsigned count, size_t size,
			    unsigned short group_id, exec_io_buf_ring **out)
{
	if (!loop || !out || !count || (count & (count - 1)) || count > 32768 ||
	    !size || size > UINT32_MAX)
		return -EINVAL;
	*out = NULL;
	exec_io_buf_ring *ring = calloc(1, sizeof *ring);
	if (!ring)
		return -ENOMEM;
	ring->loop = loop;
	ring->size = size;
	ring->count = count;
	ring->mask = count - 1;
	ring->group = group_id;
	int rc = -ENOMEM;
	/* Untouched pages of the pool cost no memory until a recv uses them. */
	ring->bufs = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ring->bufs == MAP_FAILED) {
		ring->bufs = NULL;
		goto fail;
	}
	if (loop->backend == EXEC_IO_BACKEND_URING) {
		if (!loop->features.buf_ring) {
			rc = -EOPNOTSUPP;
			goto fail;
		}
		ring->ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
		void *p = mmap(NULL, ring->ring_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			goto fail;
		ring->br = p;
		io_uring_buf_ring_init(ring->br);
		struct io_uring_buf_reg reg;
		memset(&reg, 0, sizeof reg);
		reg.ring_addr = (uint64_t)(uintptr_t)ring->br;
		reg.ring_entries = count;
		reg.bgid = group_id;
		rc = io_uring_register_buf_ring(&loop->ring, &reg, 0);
		if (rc < 0)
			goto fail;
		for (unsigned i = 0; i < count; i++)
			io_uring_buf_ring_add(ring->br, ring->bufs + (size_t)i * size,
					      (unsigned)size, (unsigned short)i,
					      (int)ring->mask, (int)i);
		io_uring_buf_ring_advance(ring->br, (int)count);
	} else {
		ring->free_ids = malloc(count * sizeof *ring->free_ids);
		if (!ring->free_ids)
			goto fail;
		/* Popped from the end: buffer 0 first. */
		for (unsigned i = 0; i < count; i++)
			ring->free_ids[i] = (uint16_t)(count - 1 - i);
		ring->nfree = count;
	}
	*out = ring;
	return 0;
fail:
	if (ring->br)
		munmap(ring->br, ring->ring_bytes);
	if (ring->bufs)
		munmap(ring->bufs, (size_t)count * size);
	free(ring->free_ids);
	free(ring);
	return rc;
}

void exec_io_buf_ring_destroy(exec_io_buf_ring *ring)
{
	if (!ring)
		return;
	if (ring->br) {
		io_uring_unregister_buf_ring(&ring->loop->ring, ring->group);
		munmap(ring->br, ring->ring_bytes);
	}
	munmap(ring->bufs, (size_t)ring->count * ring->size);
	free(ring->free_ids);
	free(ring);
}

void exec_io_buf_ring_recycle(exec_io_buf_ring *ring, void *ptr)
{
	if (!ring || !ptr)
		return;
	size_t off = (size_t)((char *)ptr - ring->bufs);
	unsigned bid = (unsigned)(off / ring->size);
	if (bid >= ring->count)
		return;
	if (ring->br) {
		io_uring_buf_ring_add(ring->br, ring->bufs + (size_t)bid * ring->size,
				      (unsigned)ring->size, (unsigned short)bid,
				      (int)ring->mask, 0);
		io_uring_buf_ring_advance(ring->br, 1);
	} else {
		exec_io_epoll_buf_recycle_(ring, bid);
	}
	ring->recycled++;
	/* Multishot recvs that ran dry re-arm now. All of them, not one: a
	 * woken connection with no data pending takes no buffer, and the
	 * others must not keep waiting behind it while buffers are free. */
	io_buf_waiter *w = ring->wait_head;
	ring->wait_head = ring->wait_tail = NULL;
	while (w) {
		io_buf_waiter *next = w->next;
		w->next = w->prev = NULL;
		exec_io_recv_multishot_wake_(w);
		w = next;
	}
}

void exec_io_buf_ring_wait_(exec_io_buf_ring *ring, io_buf_waiter *w)
{
	w->next = NULL;
	w->prev = ring->wait_tail;
	if (ring->wait_tail)
		ring->wait_tail->next = w;
	else
		ring->wait_head = w;
	ring->wait_tail = w;
}

void exec_io_buf_ring_unwait_(exec_io_buf_ring *ring, io_buf_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		ring->wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		ring->wait_tail = w->prev;
	w->next = w->prev = NULL;
}

size_t exec_io_buf_ring_buffer_size(const exec_io_buf_ring *ring)
{
	return ring ? ring->size : 0;
}

void exec_io_buf_ring_prefault(exec_io_buf_ring *ring)
{
	if (!ring || !ring->bufs)
		return;
	/* Before any receive: nobody else writes the pool yet. */
	size_t bytes = (size_t)ring->count * ring->size;
	long page = sysconf(_SC_PAGESIZE);
	size_t step = page > 0 ? (size_t)page : 4096;
	for (size_t off = 0; off < bytes; off += step)
		((volatile char *)ring->bufs)[off] = 0;
}
