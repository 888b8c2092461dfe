/*
 * shm.c - the shm source: [offset, offset+len) of a shared-memory file
 * (memfd, shm_open, a hugetlbfs file), mapped MAP_SHARED by cistern.
 *
 * Decommit punches holes in the file (fallocate PUNCH_HOLE, else
 * MADV_REMOVE): on shared mappings MADV_DONTNEED frees nothing, the pages
 * stay in the file.  The source is INJECTED: regions are never unmapped;
 * cistern's own view of the segment is unmapped only when the source is
 * released.  Offsets let another process that maps the same fd find data.
 * Two live sources over the same bytes of one file (by device and inode,
 * whatever fd names it) would hand them out twice: the second is EEXIST.
 */
#include "platform.h"
#include "export.h"
#include "init.h"
#include "meta.h"
#include "source.h"
#include "sources.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif

#define SHM_CHUNK ((size_t)64 << 20)

struct shm {
    struct cs_carve range; /* cistern's view of the segment */
    int fd;
    off_t offset;
    dev_t dev; /* the file, for the overlap check */
    ino_t ino;
};

static void *shm_alloc(void *ctx, size_t size, size_t align, size_t *actual)
{
    struct shm *m = ctx;
    return cs_carve_take(&m->range, size, align, SHM_CHUNK, actual);
}

static int shm_decommit(void *ctx, void *p, size_t len)
{
    struct shm *m = ctx;
    off_t off = m->offset + (off_t)((uintptr_t)p - m->range.base);
#ifdef HAVE_FALLOCATE
    if (fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len) == 0)
        return 0;
#else
    (void)off;
#endif
#ifdef MADV_REMOVE
    if (madvise(p, len, MADV_REMOVE) == 0)
        return 0;
#endif
    return errno;
}

static void shm_destroy(void *ctx)
{
    struct shm *m = ctx;
    munmap((void *)m->range.base, m->range.end - m->range.base);
    cs_meta_free(m, sizeof *m);
}

static const cistern_sysalloc_ops_t shm_ops = {
    .alloc = shm_alloc,
    .decommit = shm_decommit,
    .destroy = shm_destroy,
};

struct overlap {
    dev_t dev;
    ino_t ino;
    off_t lo, hi;
    int hit;
};

static void probe_overlap(struct cistern_sysalloc *s, void *ctx)
{
    struct overlap *o = ctx;
    const struct shm *m = s->ctx;
    if (s->kind == CS_SRC_SHM && m->dev == o->dev && m->ino == o->ino && m->offset < o->hi &&
        o->lo < m->offset + (off_t)(m->range.end - m->range.base))
        o->hit = 1;
}

/* Map [offset, offset+len) of fd and make the source record (unregistered). */
static struct cistern_sysalloc *shm_new(int fd, off_t offset, size_t len, unsigned flags,
                                        const struct stat *st)
{
    size_t page = cs_os_page_size();
    if (st->st_size < offset + (off_t)len && ftruncate(fd, offset + (off_t)len) != 0) {
        errno = EINVAL;
        return NULL;
    }
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (base == MAP_FAILED) {
        errno = errno == ENOMEM ? ENOMEM : EINVAL;
        return NULL;
    }
    struct shm *m = cs_meta_alloc(sizeof *m);
    if (!m) {
        munmap(base, len);
        errno = ENOMEM;
        return NULL;
    }
    m->fd = fd;
    m->offset = offset;
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->range.base = m->range.cur = (uintptr_t)base;
    m->range.end = (uintptr_t)base + len;
    /* A hugetlbfs file decommits whole huge pages: its block size says how big. */
    size_t granule = (flags & CISTERN_SYSALLOC_HUGE) && (size_t)st->st_blksize > page
                         ? (size_t)st->st_blksize : page;
    struct cistern_sysalloc *s =
        cs_source_new("shm", &shm_ops, m, granule,
                      flags | CISTERN_SYSALLOC_INJECTED | CISTERN_SYSALLOC_SHARED, CS_SRC_SHM);
    if (!s) {
        shm_destroy(m);
        return NULL;
    }
    s->range_base = m->range.base;
    s->range_len = len;
    return s;
}

CS_EXPORT cistern_sysalloc_t *cistern_sysalloc_shm(int fd, off_t offset, size_t len, unsigned flags)
{
    cs_ensure_init();
    size_t page = cs_os_page_size();
    struct stat st;
    off_t end;
    int acc = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    /* The end is computed without signed overflow: a length past OFF_MAX
       would otherwise wrap and pass. */
    if (fd < 0 || acc < 0 || (acc & O_ACCMODE) != O_RDWR || fstat(fd, &st) != 0 || offset < 0 ||
        len == 0 || ((size_t)offset & (page - 1)) || (len & (page - 1)) ||
        (flags & ~(CISTERN_SYSALLOC_HUGE | CISTERN_SYSALLOC_SHARED | CISTERN_SYSALLOC_INJECTED)) ||
        (off_t)len < 0 || __builtin_add_overflow(offset, (off_t)len, &end)) {
        errno = EINVAL;
        return NULL;
    }
    /* Two sources over the same bytes of one file would hand them out twice. */
    static cs_lock_t shm_lock = CS_LOCK_INIT;
    struct overlap o = { st.st_dev, st.st_ino, offset, end, 0 };
    cs_lock(&shm_lock);
    cs_source_foreach(probe_overlap, &o);
    if (o.hit) {
        cs_unlock(&shm_lock);
        errno = EEXIST;
        return NULL;
    }
    struct cistern_sysalloc *s = shm_new(fd, offset, len, flags, &st);
    if (s)
        cs_source_register(s);
    cs_unlock(&shm_lock);
    return s;
}

CS_EXPORT off_t cistern_sysalloc_shm_offset(const cistern_sysalloc_t *s, const void *p)
{
    if (!s || s->kind != CS_SRC_SHM || (uintptr_t)p < s->range_base ||
        (uintptr_t)p >= s->range_base + s->range_len) {
        errno = EINVAL;
        return -1;
    }
    const struct shm *m = s->ctx;
    return m->offset + (off_t)((uintptr_t)p - m->range.base);
}

CS_EXPORT void *cistern_sysalloc_shm_pointer(const cistern_sysalloc_t *s, off_t offset)
{
    if (!s || s->kind != CS_SRC_SHM) {
        errno = EINVAL;
        return NULL;
    }
    const struct shm *m = s->ctx;
    if (offset < m->offset || offset >= m->offset + (off_t)(m->range.end - m->range.base)) {
        errno = EINVAL;
        return NULL;
    }
    return (void *)(m->range.base + (uintptr_t)(offset - m->offset));
}
