/*
 * larder_mmap: the Node-API addon behind store-fs's real memory maps.
 *
 *   map(fd, offset, length, uncount) an ArrayBuffer over `length` bytes of the
 *                                    open file `fd` from `offset` (a multiple of
 *                                    the page size), mapped MAP_PRIVATE (copy-on-write)
 *                                    with PROT_READ | PROT_WRITE: a write changes
 *                                    only this process's copy of the page, never
 *                                    the file. Unmapped when the ArrayBuffer (and
 *                                    so every view on it) is garbage-collected.
 *                                    The descriptor may be closed right after.
 *   xxh64(view) -> bigint            XXH64, seed 0, of the bytes a typed array
 *                                    or DataView covers (store-fs's checksum).
 *   pristine(view) -> boolean|null   Whether every page under the view still
 *                                    holds the file's bytes: no page of a
 *                                    MAP_PRIVATE mapping was written (made an
 *                                    anonymous copy) by this process. Read from
 *                                    /proc/self/pagemap; null where it cannot tell.
 *   hugePageSize() -> number         Bytes in a transparent huge page; 0 where
 *                                    the system has none (off, `never`).
 *   adviseHugePages(view) -> number  madvise(MADV_HUGEPAGE) on the whole huge
 *                                    pages inside the bytes a view covers, so
 *                                    that the first write to fresh memory faults
 *                                    in one huge page at a time instead of 4 KiB
 *                                    pages. Returns the offset in the view of the
 *                                    first advised byte, -1 where nothing was.
 *   openUnnamed(folder) -> number    open(folder, O_TMPFILE | O_WRONLY): a new file
 *                                    with no name in `folder` (its descriptor),
 *                                    or -errno (-ENOSYS where the system has no
 *                                    O_TMPFILE). Nothing is left if the process
 *                                    dies before the file is linked.
 *   linkUnnamed(fd, target) -> number
 *                                    Gives that file the name `target` (linkat):
 *                                    0, or -errno (-EEXIST when `target` exists,
 *                                    which is never replaced).
 *   closeUnnamed(fd)                 close() a descriptor openUnnamed gave (here, not with
 *                                    fs.closeSync: Node's worker threads track the
 *                                    descriptors fs opens and warn at a close of
 *                                    one it did not).
 *
 * Node-API only (ABI-stable): one build serves Node 20, 22 and 24, Bun and
 * Deno. Built by native/build.sh (gcc) into prebuilds/<platform>-<arch>/,
 * or by node-gyp from native/binding.gyp on other platforms.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
  void* address;
  size_t length;
} Mapping;


/*
 * V8 counts an external ArrayBuffer's bytes as external memory, and any
 * increase of that count by more than 64 MiB since its lowest point since
 * the last mark-compact starts a collection (V8's external allocation soft
 * limit). A mapping's pages are the page cache's, not the heap's, so with
 * `uncount` map() takes its length off the count just before creating the
 * buffer adds it back: a mapping of up to 64 MiB then starts no collection.
 * Nothing can spare a larger one: the creation itself is a single increase
 * by the whole length (measured: map() of 63 MiB ~10-30 µs, of 66 MiB and
 * more 1-4 ms, the collection). The finalizer does not add the length back
 * when V8 subtracts it again at collection: that return lowers V8's low
 * point by the length, so adding it back is an increase too, and once a
 * collection freed more than 64 MiB of mappings the finalizers' additions
 * started the next collection, over and over. V8 < 13 compares the count
 * only with its own low point, so it may drift below zero; what
 * process.memoryUsage().external reports is V8's separate sum of live
 * buffers, which stays right (measured). The caller asks for `uncount`
 * only where V8 tolerates that: V8 13+ (Node 24, Deno) checks the count
 * never goes negative and aborts the process.
 */
static void unmap(node_api_basic_env env, void* data, void* hint) {
  Mapping* mapping = hint;
  (void)env;
  (void)data;
  munmap(mapping->address, mapping->length);
  free(mapping);
}

/* A bus error in a mapped region means the file shrank under the mapping: say so before the process dies. */
static struct sigaction previous_bus;
static int bus_handler_installed = 0;

static void on_bus_error(int signal, siginfo_t* info, void* context) {
  static const char message[] =
      "[larder/store-fs] SIGBUS: a memory-mapped file was read past its end. Most likely a file loaded with "
      "{ mmap: 'r' } was truncated or overwritten in place by another program (larder replaces files by rename, "
      "which mapped readers never see). The process cannot continue.\n";
  ssize_t written = write(STDERR_FILENO, message, sizeof message - 1);
  (void)written;
  /* Hand over to whatever handled SIGBUS before (by default: end the process with SIGBUS, as it would have). */
  sigaction(SIGBUS, &previous_bus, NULL);
  if (!(previous_bus.sa_flags & SA_SIGINFO) && previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
    previous_bus.sa_handler(signal);
  } else if ((previous_bus.sa_flags & SA_SIGINFO) && previous_bus.sa_sigaction != NULL) {
    previous_bus.sa_sigaction(signal, info, context);
  }
  /* Returning re-runs the faulting access, which now meets the previous handler. */
}

static void install_bus_handler(void) {
  if (bus_handler_installed) return;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_bus_error;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGBUS, &action, &previous_bus) == 0) bus_handler_installed = 1;
}

static napi_value throw_errno(napi_env env, const char* what, int error) {
  char message[256];
  snprintf(message, sizeof message, "[larder/store-fs] %s: %s", what, strerror(error));
  napi_throw_error(env, "LARDER_MMAP", message);
  return NULL;
}

static napi_value map(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  int64_t offset, length;
  bool uncount = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok || napi_get_value_bool(env, argv[3], &uncount) != napi_ok ||
      fd < 0 || offset < 0 || offset % sysconf(_SC_PAGESIZE) != 0 || length <= 0) {
    napi_throw_type_error(env, "LARDER_OPTION", "[larder/store-fs] map(fd, offset, length, uncount) takes a descriptor, a page-aligned offset, a positive length and a boolean");
    return NULL;
  }
  void* address = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)offset);
  if (address == MAP_FAILED) return throw_errno(env, "mmap failed", errno);
  Mapping* mapping = malloc(sizeof *mapping);
  if (mapping == NULL) {
    munmap(address, (size_t)length);
    return throw_errno(env, "out of memory", ENOMEM);
  }
  mapping->address = address;
  mapping->length = (size_t)length;
  /*
   * Take the bytes off first: creating the buffer adds them, and a single
   * large addition would cross V8's limit and start a collection right there.
   * If creating it did not add them (Bun), put them back.
   */
  int64_t before = 0, after = 0;
  if (uncount) napi_adjust_external_memory(env, -(int64_t)length, &before);
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, address, (size_t)length, unmap, mapping, &buffer);
  if (status != napi_ok) {
    if (uncount) napi_adjust_external_memory(env, (int64_t)length, &after);
    /*
     * A V8 sandbox (Electron) refuses before taking ownership. After any other
     * failure the runtime may already have run the finalizer: leaking one
     * mapping beats a double free. (The caller keeps lengths within what one
     * ArrayBuffer may hold, so this is not expected.)
     */
    if (status == napi_no_external_buffers_allowed) {
      munmap(address, (size_t)length);
      free(mapping);
      napi_throw_error(env, "LARDER_MMAP", "[larder/store-fs] this runtime does not allow ArrayBuffers over foreign memory");
    } else {
      napi_throw_error(env, "LARDER_MMAP", "[larder/store-fs] could not create an ArrayBuffer over the mapping");
    }
    return NULL;
  }
  /* A runtime whose buffers do not count (Bun) gets the length back at once: nothing of it is V8's to return. */
  if (uncount && !(napi_adjust_external_memory(env, 0, &after) == napi_ok && after - before >= length)) {
    napi_adjust_external_memory(env, (int64_t)length, &after);
  }
  install_bus_handler();
  return buffer;
}

/* ---- pristine(view): has this process written to the pages under a mapped view? ---- */

/*
 * /proc/self/pagemap holds 8 bytes per virtual page: bit 63 present, bit 62
 * swapped, bit 61 "file page or shared anonymous". A page of a MAP_PRIVATE
 * file mapping is the page cache's own page (bit 61 set) until the first
 * write, which replaces it with an anonymous copy (bit 61 clear) that may
 * later be swapped (bit 62). A page never touched is not present and still
 * reads from the file. So "no present page without bit 61, none swapped"
 * means the view still shows exactly the file's bytes. Unprivileged readers
 * get these flags (only the frame numbers are hidden) on Linux 4.2 and later.
 */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)

static int view_argument(napi_env env, napi_callback_info info, const char* usage, void** data, size_t* length);

static napi_value pristine(napi_env env, napi_callback_info info) {
  napi_value result;
  void* data = NULL;
  size_t length = 0;
  if (!view_argument(env, info, "pristine(view)", &data, &length)) return NULL;
  napi_get_null(env, &result);
  if (length == 0) {
    napi_get_boolean(env, true, &result);
    return result;
  }
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return result;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t first = (uintptr_t)data / page, last = ((uintptr_t)data + length - 1) / page;
  uint64_t entries[4096];
  int clean = 1, known = 1;
  for (uintptr_t at = first; at <= last && clean && known;) {
    size_t count = last - at + 1 < 4096 ? (size_t)(last - at + 1) : 4096;
    ssize_t got = pread(fd, entries, count * sizeof entries[0], (off_t)(at * sizeof entries[0]));
    if (got <= 0 || got % (ssize_t)sizeof entries[0] != 0) {
      known = 0;
      break;
    }
    size_t n = (size_t)got / sizeof entries[0];
    for (size_t i = 0; i < n; i++) {
      uint64_t entry = entries[i];
      if ((entry & PM_SWAPPED) || ((entry & PM_PRESENT) && !(entry & PM_FILE))) {
        clean = 0;
        break;
      }
    }
    at += n;
  }
  close(fd);
  if (known) napi_get_boolean(env, clean, &result);
  return result;
}

/* ---- XXH64 (seed 0), as in the xxHash reference (Yann Collet, BSD-2-Clause) ---- */

static const uint64_t P1 = 11400714785074694791ULL, P2 = 14029467366897019727ULL, P3 = 1609587929392839161ULL,
                      P4 = 9650029242287828579ULL, P5 = 2870177450012600261ULL;

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t read64(const uint8_t* p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t read32(const uint8_t* p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t round64(uint64_t acc, uint64_t input) { return rotl(acc + input * P2, 31) * P1; }
static inline uint64_t merge64(uint64_t acc, uint64_t value) { return (acc ^ round64(0, value)) * P1 + P4; }

static uint64_t xxh64_bytes(const uint8_t* p, size_t length) {
  const uint8_t* end = p + length;
  uint64_t h;
  if (length >= 32) {
    const uint8_t* limit = end - 32;
    uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1;
    do {
      v1 = round64(v1, read64(p));
      v2 = round64(v2, read64(p + 8));
      v3 = round64(v3, read64(p + 16));
      v4 = round64(v4, read64(p + 24));
      p += 32;
    } while (p <= limit);
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = merge64(h, v1);
    h = merge64(h, v2);
    h = merge64(h, v3);
    h = merge64(h, v4);
  } else {
    h = P5;
  }
  h += (uint64_t)length;
  while (p + 8 <= end) {
    h ^= round64(0, read64(p));
    h = rotl(h, 27) * P1 + P4;
    p += 8;
  }
  if (p + 4 <= end) {
    h ^= (uint64_t)read32(p) * P1;
    h = rotl(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= (*p) * P5;
    h = rotl(h, 11) * P1;
    p++;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/* The bytes a typed array or DataView covers; 0 for anything else. */
static int view_bytes(napi_env env, napi_value value, void** data, size_t* length) {
  bool is_typed = false, is_view = false;
  napi_is_typedarray(env, value, &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t elements;
    if (napi_get_typedarray_info(env, value, &type, &elements, data, NULL, NULL) != napi_ok) return 0;
    static const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
    if ((size_t)type >= sizeof sizes / sizeof sizes[0]) return 0; /* a kind newer than these headers */
    *length = elements * sizes[type];
    return 1;
  }
  napi_is_dataview(env, value, &is_view);
  return is_view && napi_get_dataview_info(env, value, length, data, NULL, NULL) == napi_ok;
}

/* The one argument of pristine, xxh64 and adviseHugePages: a view's bytes, or a LARDER_OPTION TypeError. */
static int view_argument(napi_env env, napi_callback_info info, const char* usage, void** data, size_t* length) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 && view_bytes(env, argv[0], data, length)) return 1;
  char message[128];
  snprintf(message, sizeof message, "[larder/store-fs] %s takes a typed array or DataView", usage);
  napi_throw_type_error(env, "LARDER_OPTION", message);
  return 0;
}

static napi_value xxh64(napi_env env, napi_callback_info info) {
  void* data = NULL;
  size_t length = 0;
  if (!view_argument(env, info, "xxh64(view)", &data, &length)) return NULL;
  napi_value result;
  napi_create_bigint_uint64(env, xxh64_bytes(data, length), &result);
  return result;
}

/* ---- huge pages for fresh buffers: hugePageSize(), adviseHugePages(view) ---- */

/*
 * Filling fresh memory costs a page fault per 4 KiB page: ~20 ms per 80 MB
 * on ordinary hardware, ~15 µs a fault (350 ms per 80 MB) in a Firecracker
 * VM. With MADV_HUGEPAGE the kernel backs the range with 2 MiB pages where
 * transparent huge pages are in `madvise` (the common default) or `always`
 * mode: one fault per 2 MiB. numpy does the same for every allocation of
 * 4 MiB and more. Only whole huge pages inside the view are advised, never
 * memory around it that belongs to other allocations; the advice is a hint
 * on this process's own pages, so it cannot change any byte. Advising pages
 * already in use is harmless (khugepaged may merge them later).
 */

/* The size of a transparent huge page, or 0 where there are none (THP off, `never`, not Linux). */
static size_t huge_page_size(void) {
  static long size = -1;
  if (size < 0) {
    size = 0;
#ifdef MADV_HUGEPAGE
    char mode[128] = {0};
    FILE* file = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
    if (file != NULL) {
      if (fgets(mode, sizeof mode, file) == NULL) mode[0] = 0;
      fclose(file);
    }
    if (mode[0] != 0 && strstr(mode, "[never]") == NULL) {
      size = 2L << 20; /* x86-64 and 4 KiB-page arm64 */
      file = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
      if (file != NULL) {
        unsigned long long value = 0;
        if (fscanf(file, "%llu", &value) == 1 && value >= 4096 && (value & (value - 1)) == 0) size = (long)value;
        fclose(file);
      }
    }
#endif
  }
  return (size_t)size;
}

static napi_value huge_page_size_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_double(env, (double)huge_page_size(), &result);
  return result;
}

/* Advises the whole huge pages inside the view; returns the offset in the view of the first one, or -1. */
static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  napi_value result;
  void* data = NULL;
  size_t length = 0;
  if (!view_argument(env, info, "adviseHugePages(view)", &data, &length)) return NULL;
  double first = -1;
#ifdef MADV_HUGEPAGE
  const uintptr_t huge = (uintptr_t)huge_page_size();
  if (huge != 0 && data != NULL) {
    const uintptr_t start = ((uintptr_t)data + huge - 1) & ~(huge - 1);
    const uintptr_t end = ((uintptr_t)data + length) & ~(huge - 1);
    if (end > start && madvise((void*)start, end - start, MADV_HUGEPAGE) == 0) first = (double)(start - (uintptr_t)data);
  }
#endif
  napi_create_double(env, first, &result);
  return result;
}

/* ---- unnamed temp files for atomic writes: openUnnamed(folder), linkUnnamed(fd, target) ---- */

/*
 * A small atomic write through a named temp file costs a create, a write, a
 * close and a rename, two directory insertions and a removal. An O_TMPFILE
 * file has no name until linkat() gives it its final one: one insertion, no
 * rename, and no temp file to sweep after a crash. The functions return
 * -errno rather than throw: the caller falls back to named temp files where
 * this fails (no O_TMPFILE on the file system, linkat refused).
 */

/* A path argument as a C string, or 0 (a non-string, one too long for PATH_MAX, or with a NUL inside). */
static int path_argument(napi_env env, napi_value value, char* path) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length == 0 || length >= PATH_MAX) return 0;
  if (napi_get_value_string_utf8(env, value, path, PATH_MAX, &length) != napi_ok) return 0;
  return strlen(path) == length;
}

static napi_value int_result(napi_env env, int value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

static napi_value open_unnamed(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char folder[PATH_MAX];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !path_argument(env, argv[0], folder)) {
    napi_throw_type_error(env, "LARDER_OPTION", "[larder/store-fs] openUnnamed(folder) takes a folder path");
    return NULL;
  }
#ifdef O_TMPFILE
  int fd = open(folder, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  return int_result(env, fd >= 0 ? fd : -errno);
#else
  return int_result(env, -ENOSYS);
#endif
}

static napi_value link_unnamed(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  char target[PATH_MAX];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      !path_argument(env, argv[1], target)) {
    napi_throw_type_error(env, "LARDER_OPTION", "[larder/store-fs] linkUnnamed(fd, target) takes a descriptor and a path");
    return NULL;
  }
#ifdef AT_EMPTY_PATH
  /* The descriptor itself: needs CAP_DAC_READ_SEARCH (else ENOENT or EPERM); then through /proc, which needs none. */
  if (linkat(fd, "", AT_FDCWD, target, AT_EMPTY_PATH) == 0) return int_result(env, 0);
  if (errno == EEXIST) return int_result(env, -EEXIST);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", (int)fd);
  if (linkat(AT_FDCWD, proc, AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0) return int_result(env, 0);
  return int_result(env, -errno);
#else
  return int_result(env, -ENOSYS);
#endif
}

static napi_value close_unnamed(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "LARDER_OPTION", "[larder/store-fs] closeUnnamed(fd) takes a descriptor");
    return NULL;
  }
  return int_result(env, close(fd) == 0 ? 0 : -errno);
}

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "map", NAPI_AUTO_LENGTH, map, NULL, &function);
  napi_set_named_property(env, exports, "map", function);
  napi_create_function(env, "xxh64", NAPI_AUTO_LENGTH, xxh64, NULL, &function);
  napi_set_named_property(env, exports, "xxh64", function);
  napi_create_function(env, "pristine", NAPI_AUTO_LENGTH, pristine, NULL, &function);
  napi_set_named_property(env, exports, "pristine", function);
  napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, advise_huge_pages, NULL, &function);
  napi_set_named_property(env, exports, "adviseHugePages", function);
  napi_create_function(env, "hugePageSize", NAPI_AUTO_LENGTH, huge_page_size_js, NULL, &function);
  napi_set_named_property(env, exports, "hugePageSize", function);
  napi_create_function(env, "openUnnamed", NAPI_AUTO_LENGTH, open_unnamed, NULL, &function);
  napi_set_named_property(env, exports, "openUnnamed", function);
  napi_create_function(env, "linkUnnamed", NAPI_AUTO_LENGTH, link_unnamed, NULL, &function);
  napi_set_named_property(env, exports, "linkUnnamed", function);
  napi_create_function(env, "closeUnnamed", NAPI_AUTO_LENGTH, close_unnamed, NULL, &function);
  napi_set_named_property(env, exports, "closeUnnamed", function);
  return exports;
}
