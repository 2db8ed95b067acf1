/* Fast /proc/PID/smaps reader: one pass over the text, no regular expressions.
 *
 * parse(data: bytes, vma_type=tuple) -> (names, vmas)
 *   names: tuple of the "kB" field names in file order, e.g. ("Size", "KernelPageSize", ...)
 *   vmas:  list of vma_type instances (a namedtuple class works: it is a tuple subtype) of
 *          (start, end, perms, offset, dev, inode, path, vmflags, values); values holds the
 *          kB fields in the order of names.
 *
 * summarize(data, classes: dict, classify: callable) -> (totals, kinds, reclaim)
 *   The whole-process split of memtype.model.classify.Classifier.split, without building a
 *   Python object per mapping: classes caches b"perms\0dev\0path\0vmflags" -> class number
 *   (the order of MAP_CLASSES), classify(path, perms, vmflags, dev) fills it on a miss. totals
 *   and kinds are tuples of kB in the layouts TOTALS and KINDS x KIND_PARTS, reclaim the kB of
 *   RECLAIM_CLASSES as memtype.model.reclaim.reclaim_from_smaps gives them.
 *
 * walk_pagemap(data, classes, classify, fd, page, zero_walk_limit) -> (entries, owners, records)
 *   For --exact: from the smaps text, the mappings whose pages are walked (the rules of
 *   memtype.collect.exact.process.PagemapReader) and their pagemap entries, read from fd with
 *   the GIL released. entries: the present or swapped u64 entries only; owners: for each, its
 *   record (int32); records: int64 rows of WALK_FIELDS.
 *
 * pread_ranges(fd, offsets: list, lengths: list) -> bytes
 *   Reads many ranges of one file (pagemap for --exact) in one call with the GIL released,
 *   merging adjacent ranges into one pread. OSError on errors, EOFError on a short read.
 *
 * classify_pages(procs, flags_fd, count_fd, rules, detail_masks, table, page, nopage, want_records)
 *   Passes 2 and 3 of --exact: the rules and the decision table come from memtype.model.pages.
 *
 * The module also exports its vocabularies as tuples (SMAPS_FIELDS, MAP_CLASSES, KINDS,
 * KIND_PARTS, TOTALS, RECLAIM_CLASSES, PAGE_CATEGORIES, MAPPING_KINDS, WALK_FIELDS) and MAX_KB;
 * tests/test_parity.py asserts each equal, in order, to its Python owner, and runs this code
 * against the pure-Python path on generated smaps of every mapping class.
 *
 * The text this code accepts is a subset of what the tolerant Python parser
 * (memtype.parse.smaps._parse_tolerant) reads, and gives the same values for it: every entry
 * carries the same kB fields in the same order (the kernel prints them unconditionally:
 * fs/proc/task_mmu.c __show_smap), as plain ASCII. Anything else, and anything out of bounds
 * (a kB value above MAX_KB, a mapping whose start is above its end), raises
 * ValueError("line N: ..."); the caller then uses the tolerant parser, which reports the damage
 * and keeps the rest. memtype works without this module, only slower.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>

/*
 * Vocabularies shared with Python
 *
 * Each enum below has a name tuple in the same order, exported by the module; the test asserts
 * it equal to the Python definition (memtype.model.classify, memtype.kinds, memtype.model.records,
 * memtype.model.reclaim, memtype.model.pages), so no list is kept in step by a comment alone.
 */

#define MAX_FIELDS 64
/* Largest plausible kB value: 2^56 bytes, the whole user address space with 5-level paging
 * (Documentation/arch/x86/x86_64/mm.rst). A larger one is a damaged file: memtype.parse.smaps.MAX_KB. */
#define MAX_KB (1LL << 46)
/* Accumulators stay below this; each entry adds less than 2^54 (MAX_KB-bounded terms). */
#define SUM_LIMIT (1LL << 62)

/* Fields the split uses (memtype.model.classify._NAMES). */
static const char *const SMAPS_FIELD_NAMES[] = {
    "Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Anonymous", "KSM",
    "Swap", "SwapPss", "Shared_Hugetlb", "Private_Hugetlb", "Locked", "LazyFree", "AnonHugePages", "FilePmdMapped"};
enum { F_SIZE, F_RSS, F_PSS, F_SC, F_SD, F_PC, F_PD, F_ANON, F_KSM, F_SWAP, F_SWAPPSS, F_SH, F_PH, F_LOCKED,
       F_LAZY, F_AHP, F_FHP, N_USED };

/* Mapping classes (memtype.model.classify.MapClass values). */
static const char *const MAP_CLASS_NAMES[] = {"anon", "anon-hugetlb", "shmem", "shmem-hugetlb", "shmem-private",
                                              "file-shared", "file-private", "file-cow", "device-pfn", "device"};
enum { C_ANON, C_ANON_HUGETLB, C_SHMEM, C_SHMEM_HUGETLB, C_SHMEM_PRIVATE, C_FILE_SHARED, C_FILE_PRIVATE,
       C_FILE_COW_PENDING, C_DEVICE_PFN, C_DEVICE, N_CLASSES };

/* Kinds (memtype.kinds.KINDS), KIND_PARTS slots each. */
static const char *const KIND_NAMES[] = {"anonymous", "shared", "cow", "file", "device"};
static const char *const KIND_PART_NAMES[] = {"rss", "pss", "swap", "swap_pss"};
enum { P_RSS, P_PSS, P_SWAP, P_SWAPPSS, N_PARTS };
enum { K_ANON = 0 * N_PARTS, K_SHARED = 1 * N_PARTS, K_COW = 2 * N_PARTS, K_FILE = 3 * N_PARTS,
       K_DEVICE = 4 * N_PARTS, N_KIND_SLOTS = 5 * N_PARTS };

/* Totals (memtype.model.records.Totals slots). */
static const char *const TOTAL_NAMES[] = {"size", "rss", "pss", "uss", "swap", "swap_pss", "hugetlb",
                                          "device_mapped", "locked", "lazyfree", "anon_huge", "file_huge",
                                          "cow_file", "cow_file_pss"};
enum { T_SIZE, T_RSS, T_PSS, T_USS, T_SWAP, T_SWAPPSS, T_HUGETLB, T_DEVMAP, T_LOCKED, T_LAZY, T_AHP, T_FHP,
       T_COW_FILE, T_COW_FILE_PSS, N_TOTALS };

/* Reclaim classes (memtype.model.reclaim.CLASSES); "swap" means swappable here: the caller moves
 * it to "never" when no swap device has room. */
static const char *const RECLAIM_NAMES[] = {"drop", "writeback", "swap", "never"};
enum { R_DROP, R_WRITEBACK, R_SWAP, R_NEVER, N_RECLAIM };

/* Page categories of --exact (memtype.model.pages.CATEGORY_NAMES). */
static const char *const PAGE_CATEGORY_NAMES[] = {"none", "anonymous", "shared", "cow", "file", "device", "zero",
                                                  "swap"};
enum { CAT_NONE, CAT_ANON, CAT_SHARED, CAT_COW, CAT_FILE, CAT_DEVICE, CAT_ZERO, CAT_SWAP, NCAT };

/* What a page's mapping tells the page decision table (memtype.model.pages.MAPPING_KINDS). */
static const char *const MAPPING_KIND_NAMES[] = {"plain", "device", "cow-pending", "secretmem", "shmem"};
enum { V_PLAIN, V_DEVICE, V_COW_PENDING, V_SECRETMEM, V_SHMEM, N_VK };

/* A walk record: one per mapping whose pagemap --exact reads
 * (memtype.collect.exact.account.W_* columns). */
static const char *const WALK_FIELD_NAMES[] = {"index", "first", "pages", "vkind", "rss", "pss"};
enum { W_INDEX, W_FIRST, W_PAGES, W_VKIND, W_RSS, W_PSS, WALK_FIELDS };

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/*
 * The smaps text reader
 *
 * One pass over the bytes; each entry is handed to an emit function (parse, summarize or walk
 * mode). The grammar is the tolerant parser's, restricted to ASCII:
 *   header  hex-hex perms(4 of [!-~]) hex hex:hex decimal spaces [path: starting with [!-~]]
 *   field   Name: spaces digits " kB"      Name in [A-Za-z0-9_]+, value <= MAX_KB
 *   other   printable ASCII with a colon, not ending in "kB" (THPeligible, ProtectionKey): skipped
 *   VmFlags "VmFlags:" then printable ASCII; the entry ends here (or at the next header)
 */

typedef struct {
    unsigned long long start, end, offset, inode;
    const char *perms, *dev, *path, *flags;
    Py_ssize_t devlen, pathlen, flagslen;
} Entry;

typedef struct Reader Reader;
typedef int (*EmitFn)(Reader *, const Entry *, const long long *values);

struct Reader {
    /* field layout, fixed by the first entry */
    int nfields;
    const char *name[MAX_FIELDS];
    Py_ssize_t name_len[MAX_FIELDS];
    int used[N_USED]; /* index into values, or -1 */
    Py_ssize_t lineno, nentries;
    EmitFn emit;
    /* parse mode */
    PyTypeObject *vma_type;
    PyObject *vmas;
    /* summarize mode */
    PyObject *classes, *classify;
    long long totals[N_TOTALS], kinds[N_KIND_SLOTS], reclaim[N_RECLAIM];
    /* walk mode: one record per mapping whose pagemap --exact reads */
    long long page, zero_walk_limit, index;
    long long *walk; /* WALK_FIELDS per record */
    Py_ssize_t nwalk, cap;
};

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static int is_graph(char c) { return c > ' ' && c <= '~'; } /* printable ASCII, not a space */
static int is_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}
static int printable(const char *s, const char *end) {
    for (; s < end; s++)
        if (*s < ' ' || *s > '~') return 0;
    return 1;
}

static int fail(Reader *r, const char *msg) {
    PyErr_Format(PyExc_ValueError, "line %zd: %s", r->lineno, msg);
    return -1;
}

/* A hex number below 2^64 (the kernel prints unsigned longs). */
static int parse_hex(const char **p, const char *end, unsigned long long *out) {
    unsigned long long v = 0;
    const char *s = *p;
    if (s >= end || !is_hex(*s)) return -1;
    for (; s < end && is_hex(*s); s++) {
        if (v >> 60) return -1;
        v = v * 16 + (unsigned)(*s <= '9' ? *s - '0' : *s - 'a' + 10);
    }
    *p = s;
    *out = v;
    return 0;
}

/* A decimal number below 2^64. */
static int parse_dec(const char **p, const char *end, unsigned long long *out) {
    unsigned long long v = 0;
    const char *s = *p;
    if (s >= end || *s < '0' || *s > '9') return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (~0ULL - d) / 10) return -1;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

static PyObject *decode(const char *s, Py_ssize_t n) { return PyUnicode_DecodeUTF8(s, n, "surrogateescape"); }

/* "start-end perms offset major:minor inode   path" */
static int parse_header(Reader *r, const char *s, const char *eol, Entry *e) {
    if (parse_hex(&s, eol, &e->start) || s >= eol || *s++ != '-' || parse_hex(&s, eol, &e->end) || s >= eol ||
        *s++ != ' ')
        return fail(r, "bad mapping header");
    if (e->start > e->end) return fail(r, "mapping starts above its end");
    if (eol - s < 5 || s[4] != ' ') return fail(r, "bad permissions");
    for (int i = 0; i < 4; i++)
        if (!is_graph(s[i])) return fail(r, "bad permissions");
    e->perms = s;
    s += 5;
    if (parse_hex(&s, eol, &e->offset) || s >= eol || *s++ != ' ') return fail(r, "bad offset");
    e->dev = s;
    unsigned long long ignored;
    if (parse_hex(&s, eol, &ignored) || s >= eol || *s++ != ':' || parse_hex(&s, eol, &ignored) || s >= eol ||
        *s != ' ')
        return fail(r, "bad device");
    e->devlen = s - e->dev;
    s++;
    if (parse_dec(&s, eol, &e->inode)) return fail(r, "bad inode");
    while (s < eol && *s == ' ') s++;
    if (s < eol && !is_graph(*s)) return fail(r, "path starts with an unusual character");
    e->path = s;
    e->pathlen = eol - s;
    e->flags = "";
    e->flagslen = 0;
    return 0;
}

static int finish(Reader *r, const Entry *e, const long long *values, int count) {
    if (r->nfields < 0) {
        for (int i = 0; i < count; i++)
            for (int j = 0; j < i; j++)
                if (r->name_len[i] == r->name_len[j] && memcmp(r->name[i], r->name[j], (size_t)r->name_len[i]) == 0)
                    return fail(r, "a field appears twice");
        r->nfields = count;
        for (int u = 0; u < N_USED; u++) {
            r->used[u] = -1;
            for (int i = 0; i < count; i++)
                if ((Py_ssize_t)strlen(SMAPS_FIELD_NAMES[u]) == r->name_len[i] &&
                    memcmp(SMAPS_FIELD_NAMES[u], r->name[i], (size_t)r->name_len[i]) == 0)
                    r->used[u] = i;
        }
        if (r->used[F_SIZE] < 0 || r->used[F_RSS] < 0 || r->used[F_PSS] < 0)
            return fail(r, "smaps lacks Size, Rss or Pss");
    } else if (count != r->nfields) {
        return fail(r, "entry has a different set of fields");
    }
    r->nentries++;
    return r->emit(r, e, values);
}

/* The value of "Name:   123 kB" (colon: the line's first ':'): 0, -1 (malformed) or -2 (above MAX_KB). */
static int parse_field(const char *colon, const char *eol, long long *out) {
    const char *s = colon + 1;
    if (s >= eol || *s != ' ') return -1;
    while (s < eol && *s == ' ') s++;
    long long v = 0;
    const char *digits = s;
    for (; s < eol && *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
        if (v > MAX_KB) return -2;
    }
    if (s == digits || eol - s != 3 || memcmp(s, " kB", 3) != 0) return -1;
    *out = v;
    return 0;
}

static int read_smaps(Reader *r, const char *data, Py_ssize_t len) {
    const char *end = data + len, *p = data;
    long long values[MAX_FIELDS];
    int idx = 0, have = 0;
    Entry e;
    r->nfields = -1;
    r->lineno = 0;
    r->nentries = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        r->lineno++;
        if (!eol) return fail(r, "truncated line (no newline)");
        const char *line = p;
        p = eol + 1;
        if (line < eol && is_hex(line[0])) {
            if (have && finish(r, &e, values, idx) < 0) return -1;
            if (parse_header(r, line, eol, &e) < 0) return -1;
            have = 1;
            idx = 0;
            continue;
        }
        if (!have) return fail(r, "field before any mapping header");
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon) return fail(r, "line without a colon");
        Py_ssize_t nlen = colon - line;
        if (nlen == 7 && memcmp(line, "VmFlags", 7) == 0) {
            const char *s = colon + 1, *fe = eol;
            while (s < fe && *s == ' ') s++;
            while (fe > s && fe[-1] == ' ') fe--;
            if (!printable(s, fe)) return fail(r, "unusual characters in VmFlags");
            e.flags = s;
            e.flagslen = fe - s;
            if (finish(r, &e, values, idx) < 0) return -1;
            have = 0;
            continue;
        }
        const char *t = eol;
        while (t > colon && t[-1] == ' ') t--;
        if (!(t - colon > 2 && t[-2] == 'k' && t[-1] == 'B')) {
            /* a field without a kB unit (THPeligible, ProtectionKey): skipped, as Python does */
            if (!printable(line, eol)) return fail(r, "unusual characters");
            continue;
        }
        if (idx >= MAX_FIELDS) return fail(r, "too many fields");
        if (r->nfields < 0) {
            if (nlen == 0) return fail(r, "field without a name");
            for (const char *c = line; c < colon; c++)
                if (!is_name_char(*c)) return fail(r, "bad field name");
            r->name[idx] = line;
            r->name_len[idx] = nlen;
        } else if (idx >= r->nfields || r->name_len[idx] != nlen || memcmp(r->name[idx], line, (size_t)nlen) != 0) {
            return fail(r, "unexpected field (entries differ)");
        }
        int rc = parse_field(colon, eol, &values[idx]);
        if (rc == -2) return fail(r, "value out of range");
        if (rc < 0) return fail(r, "bad number");
        idx++;
    }
    if (have && finish(r, &e, values, idx) < 0) return -1;
    return 0;
}

/*
 * parse(): one tuple per entry
 */

static int emit_tuple(Reader *r, const Entry *e, const long long *values) {
    PyObject *vals = PyTuple_New(r->nfields);
    if (!vals) return -1;
    for (int i = 0; i < r->nfields; i++) {
        PyObject *n = PyLong_FromLongLong(values[i]);
        if (!n) { Py_DECREF(vals); return -1; }
        PyTuple_SET_ITEM(vals, i, n);
    }
    PyObject *items[9] = {
        PyLong_FromUnsignedLongLong(e->start), PyLong_FromUnsignedLongLong(e->end), decode(e->perms, 4),
        PyLong_FromUnsignedLongLong(e->offset), decode(e->dev, e->devlen), PyLong_FromUnsignedLongLong(e->inode),
        decode(e->path, e->pathlen), decode(e->flags, e->flagslen), vals};
    PyTypeObject *t = r->vma_type;
    PyObject *tuple = t == &PyTuple_Type ? PyTuple_New(9) : t->tp_alloc(t, 9);
    int ok = tuple != NULL;
    for (int i = 0; i < 9; i++) ok = ok && items[i] != NULL;
    if (!ok) {
        for (int i = 0; i < 9; i++) Py_XDECREF(items[i]);
        Py_XDECREF(tuple);
        return -1;
    }
    for (int i = 0; i < 9; i++) PyTuple_SET_ITEM(tuple, i, items[i]);
    int rc = PyList_Append(r->vmas, tuple);
    Py_DECREF(tuple);
    return rc;
}

static PyObject *names_tuple(Reader *r) {
    int n = r->nfields < 0 ? 0 : r->nfields;
    PyObject *t = PyTuple_New(n);
    if (!t) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromStringAndSize(r->name[i], r->name_len[i]);
        if (!s) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

static PyObject *py_parse(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Reader r = {0};
    r.vma_type = &PyTuple_Type;
    if (!PyArg_ParseTuple(args, "y*|O!", &buf, &PyType_Type, &r.vma_type)) return NULL;
    PyObject *result = NULL;
    if (r.vma_type != &PyTuple_Type && !PyType_IsSubtype(r.vma_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "vma_type must be a tuple subclass");
        goto out;
    }
    r.emit = emit_tuple;
    r.vmas = PyList_New(0);
    if (!r.vmas || read_smaps(&r, buf.buf, buf.len) < 0) goto out;
    PyObject *names = names_tuple(&r);
    if (names) result = PyTuple_Pack(2, names, r.vmas);
    Py_XDECREF(names);
out:
    Py_XDECREF(r.vmas);
    PyBuffer_Release(&buf);
    return result;
}

/*
 * summarize(): the per-process split
 *
 * The same rules as memtype.model.classify.Classifier.split (kinds) and
 * memtype.model.reclaim.reclaim_from_smaps (reclaim classes), in kB; tests/test_parity.py
 * compares them on every mapping class. Python's integers never overflow, so where a damaged
 * but in-bounds entry would overflow here (a share of a huge product), this code raises and the
 * caller uses the Python path.
 */

static long long lmin(long long a, long long b) { return a < b ? a : b; }
static long long lmax(long long a, long long b) { return a > b ? a : b; }

static int class_of(Reader *r, const Entry *e) {
    /* key: perms \0 dev \0 path \0 flags, as bytes (flags hold no \0: the last one separates) */
    Py_ssize_t n = 4 + 1 + e->devlen + 1 + e->pathlen + 1 + e->flagslen;
    PyObject *key = PyBytes_FromStringAndSize(NULL, n);
    if (!key) return -1;
    char *k = PyBytes_AS_STRING(key);
    memcpy(k, e->perms, 4); k += 4; *k++ = 0;
    memcpy(k, e->dev, (size_t)e->devlen); k += e->devlen; *k++ = 0;
    memcpy(k, e->path, (size_t)e->pathlen); k += e->pathlen; *k++ = 0;
    memcpy(k, e->flags, (size_t)e->flagslen);
    PyObject *cls = PyDict_GetItemWithError(r->classes, key);
    if (!cls) {
        if (PyErr_Occurred()) { Py_DECREF(key); return -1; }
        cls = PyObject_CallFunction(r->classify, "NNNN", decode(e->path, e->pathlen), decode(e->perms, 4),
                                    decode(e->flags, e->flagslen), decode(e->dev, e->devlen));
        if (!cls || PyDict_SetItem(r->classes, key, cls) < 0) { Py_XDECREF(cls); Py_DECREF(key); return -1; }
        Py_DECREF(cls); /* the dict holds it */
    }
    Py_DECREF(key);
    long c = PyLong_AsLong(cls);
    if (c < 0 || c >= N_CLASSES) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "classify returned an unknown class");
        return -1;
    }
    return (int)c;
}

/* Whether the VmFlags contain the two-letter mnemonic (as a word: Python's m in flags.split()). */
static int has_flag(const char *flags, Py_ssize_t len, const char *m) {
    for (Py_ssize_t i = 0; i < len;) {
        while (i < len && flags[i] == ' ') i++;
        Py_ssize_t j = i;
        while (j < len && flags[j] != ' ') j++;
        if (j - i == 2 && flags[i] == m[0] && flags[i + 1] == m[1]) return 1;
        i = j;
    }
    return 0;
}

/* floor(a * b / d), as Python's //, with a, b >= 0; -1 where the result is not small (damage). */
static int share_of(long long a, long long b, long long d, long long *out) {
    if (!d) { *out = 0; return 0; }
#ifdef __SIZEOF_INT128__
    __int128 n = (__int128)a * b, q = n / d;
    if (n % d != 0 && (d < 0)) q--; /* n >= 0: truncation is floor unless d < 0 */
    if (q > MAX_KB * 4 || q < -MAX_KB * 4) return -1;
    *out = (long long)q;
#else
    long long n, q;
    if (__builtin_mul_overflow(a, b, &n)) return -1;
    q = n / d;
    if (n % d != 0 && d < 0) q--;
    if (q > MAX_KB * 4 || q < -MAX_KB * 4) return -1;
    *out = q;
#endif
    return 0;
}

/* Reclaim classes of one entry (memtype.model.reclaim.reclaim_from_smaps: the same rules, kB). */
static void reclaim_entry(long long *rc, const Entry *e, int cls, const long long *f) {
    long long rss = f[F_RSS], huge = f[F_SH] + f[F_PH];
    rc[R_NEVER] += huge;
    if (!rss) return;
    if (has_flag(e->flags, e->flagslen, "lo")) { rc[R_NEVER] += rss; return; } /* VM_LOCKED */
    int secret = e->pathlen >= 10 && memcmp(e->path, "/secretmem", 10) == 0;
    if (cls == C_ANON) { rc[R_DROP] += f[F_LAZY]; rc[R_SWAP] += rss - f[F_LAZY]; return; }
    if (cls == C_DEVICE || cls == C_DEVICE_PFN || secret) { rc[R_NEVER] += rss; return; }
    if (cls == C_ANON_HUGETLB || cls == C_SHMEM || cls == C_SHMEM_HUGETLB) {
        rc[R_DROP] += f[F_LAZY]; rc[R_SWAP] += rss - f[F_LAZY]; return;
    }
    long long anon = lmin(f[F_ANON], rss), lazy = lmin(f[F_LAZY], anon), cache = rss - anon;
    rc[R_DROP] += lazy;
    rc[R_SWAP] += anon - lazy;
    if (cls == C_SHMEM_PRIVATE) { rc[R_SWAP] += cache; return; }
    long long dirty = f[F_SD] + f[F_PD] - anon; /* COW copies are dirty too: only the rest is page cache */
    dirty = dirty > cache ? cache : (dirty > 0 ? dirty : 0);
    rc[R_WRITEBACK] += dirty;
    rc[R_DROP] += cache - dirty;
}

/* A private view of a file or of shmem (Classifier._split_private_view): anon pages are the ones
 * already written (COW copies); Private_Dirty anon is this process's own, the rest still shared. */
static int split_private_view(long long *k, long long *t, int cls, const long long *f) {
    long long rss = f[F_RSS], pss = f[F_PSS], swap = f[F_SWAP], swap_pss = f[F_SWAPPSS];
    long long anon = f[F_ANON], own = lmin(anon, f[F_PD]), cow_anon = anon - own, pages = rss - anon;
    long long own_pss = lmin(pss, own), rest = pss - own_pss, cow_pss;
    if (share_of(rest, cow_anon, cow_anon + pages, &cow_pss) < 0) return -1;
    int cache = cls == C_FILE_PRIVATE ? K_FILE : (cls == C_FILE_COW_PENDING ? K_COW : K_SHARED);
    /* anon swap >= SwapPss (anon entries only); in a private shmem view the rest is shmem swap */
    long long anon_swap = cls == C_SHMEM_PRIVATE ? lmin(swap, swap_pss) : swap;
    k[K_ANON + P_RSS] += own; k[K_ANON + P_PSS] += own_pss;
    k[K_COW + P_RSS] += cow_anon; k[K_COW + P_PSS] += cow_pss;
    k[cache + P_RSS] += pages; k[cache + P_PSS] += rest - cow_pss;
    if (cache == K_COW) { t[T_COW_FILE] += pages; t[T_COW_FILE_PSS] += rest - cow_pss; } /* cow's file part */
    k[K_ANON + P_SWAP] += anon_swap; k[K_ANON + P_SWAPPSS] += swap_pss;
    k[K_SHARED + P_SWAP] += swap - anon_swap;
    return 0;
}

static int sums_in_range(const Reader *r) {
    for (int i = 0; i < N_TOTALS; i++)
        if (r->totals[i] > SUM_LIMIT || r->totals[i] < -SUM_LIMIT) return 0;
    for (int i = 0; i < N_KIND_SLOTS; i++)
        if (r->kinds[i] > SUM_LIMIT || r->kinds[i] < -SUM_LIMIT) return 0;
    for (int i = 0; i < N_RECLAIM; i++)
        if (r->reclaim[i] > SUM_LIMIT || r->reclaim[i] < -SUM_LIMIT) return 0;
    return 1;
}

static int emit_split(Reader *r, const Entry *e, const long long *values) {
    long long f[N_USED];
    for (int u = 0; u < N_USED; u++) f[u] = r->used[u] >= 0 ? values[r->used[u]] : 0;
    int cls = class_of(r, e);
    if (cls < 0) return -1;
    long long *t = r->totals, *k = r->kinds;
    t[T_SIZE] += f[F_SIZE];
    if (cls == C_DEVICE_PFN) t[T_DEVMAP] += f[F_SIZE];
    long long rss = f[F_RSS], pss = f[F_PSS], swap = f[F_SWAP], swap_pss = f[F_SWAPPSS];
    long long hugetlb = f[F_SH] + f[F_PH];
    reclaim_entry(r->reclaim, e, cls, f);
    if (rss || swap || hugetlb) {
        t[T_RSS] += rss; t[T_PSS] += pss; t[T_USS] += f[F_PC] + f[F_PD]; t[T_SWAP] += swap;
        t[T_SWAPPSS] += swap_pss; t[T_HUGETLB] += hugetlb; t[T_LOCKED] += f[F_LOCKED]; t[T_LAZY] += f[F_LAZY];
        t[T_AHP] += f[F_AHP]; t[T_FHP] += f[F_FHP];
        int base = -1;
        switch (cls) {
        case C_ANON:
        case C_ANON_HUGETLB: {
            /* anon pages mapped more than once are still COW-shared after fork (or KSM): spec A.6 */
            long long cow = lmin(f[F_ANON], lmax(f[F_SC] + f[F_SD], f[F_KSM]));
            long long own = rss - cow, own_pss = lmin(pss, own);
            k[K_ANON + P_RSS] += own; k[K_ANON + P_PSS] += own_pss;
            k[K_ANON + P_SWAP] += swap; k[K_ANON + P_SWAPPSS] += swap_pss;
            k[K_COW + P_RSS] += cow; k[K_COW + P_PSS] += pss - own_pss;
            break;
        }
        case C_SHMEM: case C_SHMEM_HUGETLB: base = K_SHARED; break;
        case C_FILE_SHARED: base = K_FILE; break;
        case C_DEVICE: case C_DEVICE_PFN: base = K_DEVICE; break;
        default:
            if (split_private_view(k, t, cls, f) < 0) return fail(r, "values too large to split");
        }
        if (base >= 0) {
            k[base + P_RSS] += rss; k[base + P_PSS] += pss; k[base + P_SWAP] += swap; k[base + P_SWAPPSS] += swap_pss;
        }
    }
    return sums_in_range(r) ? 0 : fail(r, "sums too large");
}

static PyObject *ll_tuple(const long long *v, int n) {
    PyObject *t = PyTuple_New(n);
    if (!t) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *x = PyLong_FromLongLong(v[i]);
        if (!x) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *py_summarize(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Reader r = {0};
    if (!PyArg_ParseTuple(args, "y*O!O", &buf, &PyDict_Type, &r.classes, &r.classify)) return NULL;
    r.emit = emit_split;
    PyObject *result = NULL;
    if (read_smaps(&r, buf.buf, buf.len) == 0) {
        if (r.nentries == 0) { /* Python's split needs the field names of at least one entry */
            fail(&r, "no mapping");
        } else {
            PyObject *tot = ll_tuple(r.totals, N_TOTALS), *kinds = ll_tuple(r.kinds, N_KIND_SLOTS);
            PyObject *rc = ll_tuple(r.reclaim, N_RECLAIM);
            if (tot && kinds && rc) result = PyTuple_Pack(3, tot, kinds, rc);
            Py_XDECREF(tot);
            Py_XDECREF(kinds);
            Py_XDECREF(rc);
        }
    }
    PyBuffer_Release(&buf);
    return result;
}

/*
 * walk_pagemap(): the mappings --exact reads, and their pagemap entries
 */

/* Which mappings --exact walks (memtype.collect.exact.process.PagemapReader does the same in Python). */
static int emit_walk(Reader *r, const Entry *e, const long long *values) {
    long long idx = r->index++;
    int cls = class_of(r, e);
    if (cls < 0) return -1;
    if (e->pathlen == 10 && memcmp(e->path, "[vsyscall]", 10) == 0) return 0;
    if (cls == C_DEVICE_PFN || cls == C_ANON_HUGETLB || cls == C_SHMEM_HUGETLB) return 0;
    long long rss = values[r->used[F_RSS]], pss = values[r->used[F_PSS]];
    long long swap = r->used[F_SWAP] >= 0 ? values[r->used[F_SWAP]] : 0;
    unsigned long long bytes = e->end - e->start, page = (unsigned long long)r->page;
    if (!(rss || swap) && !(cls == C_ANON && bytes <= (unsigned long long)r->zero_walk_limit)) return 0;
    int vk = V_PLAIN;
    if (cls == C_DEVICE) vk = V_DEVICE;
    else if (e->pathlen >= 10 && memcmp(e->path, "/secretmem", 10) == 0) vk = V_SECRETMEM;
    else if (cls == C_FILE_COW_PENDING) vk = V_COW_PENDING;
    else if (cls == C_SHMEM || cls == C_SHMEM_PRIVATE) vk = V_SHMEM;
    if (r->nwalk == r->cap) {
        Py_ssize_t cap = r->cap ? r->cap * 2 : 64;
        long long *grown = PyMem_Realloc(r->walk, sizeof(long long) * WALK_FIELDS * (size_t)cap);
        if (!grown) { PyErr_NoMemory(); return -1; }
        r->walk = grown;
        r->cap = cap;
    }
    long long *w = r->walk + WALK_FIELDS * r->nwalk++;
    w[W_INDEX] = idx; w[W_FIRST] = (long long)(e->start / page); w[W_PAGES] = (long long)(bytes / page);
    w[W_VKIND] = vk; w[W_RSS] = rss; w[W_PSS] = pss;
    return 0;
}

/* Read the ranges (offset, length) of fd into dst; adjacent ranges in one pread. 0, errno, or -1 (short). */
static int read_ranges(int fd, const long long *off, const long long *len, Py_ssize_t n, char *dst,
                       long long *got_total) {
    int err = 0;
    *got_total = 0;
    for (Py_ssize_t i = 0; i < n && !err;) {
        long long start = off[i], want = len[i];
        Py_ssize_t j = i + 1;
        while (j < n && off[j] == start + want) { want += len[j]; j++; }
        long long done = 0;
        while (done < want) {
            ssize_t r = pread(fd, dst + *got_total + done, (size_t)(want - done), (off_t)(start + done));
            if (r < 0) { if (errno == EINTR) continue; err = errno; break; }
            if (r == 0) { err = -1; break; } /* short: the address space shrank under us */
            done += r;
        }
        *got_total += done;
        i = j;
    }
    return err;
}

static PyObject *read_error(int err, long long got, long long total) {
    if (err > 0) { errno = err; return PyErr_SetFromErrno(PyExc_OSError); }
    PyErr_Format(PyExc_EOFError, "short read: %lld of %lld bytes", got, total);
    return NULL;
}

static PyObject *py_walk_pagemap(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Reader r = {0};
    int fd;
    if (!PyArg_ParseTuple(args, "y*O!OiLL", &buf, &PyDict_Type, &r.classes, &r.classify, &fd, &r.page,
                          &r.zero_walk_limit))
        return NULL;
    r.emit = emit_walk;
    PyObject *result = NULL, *records = NULL, *data = NULL, *owners = NULL;
    long long *off = NULL, *len = NULL;
    if (r.page <= 0) { PyErr_SetString(PyExc_ValueError, "page size"); goto out; }
    if (read_smaps(&r, buf.buf, buf.len) < 0) goto out;
    off = PyMem_Malloc(sizeof(long long) * (size_t)(r.nwalk + 1));
    len = PyMem_Malloc(sizeof(long long) * (size_t)(r.nwalk + 1));
    if (!off || !len) { PyErr_NoMemory(); goto out; }
    long long total = 0;
    for (Py_ssize_t i = 0; i < r.nwalk; i++) {
        off[i] = r.walk[WALK_FIELDS * i + W_FIRST] * 8;
        len[i] = r.walk[WALK_FIELDS * i + W_PAGES] * 8;
        total += len[i];
    }
    data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!data) goto out;
    int err;
    long long got;
    Py_BEGIN_ALLOW_THREADS
    err = read_ranges(fd, off, len, r.nwalk, PyBytes_AS_STRING(data), &got);
    Py_END_ALLOW_THREADS
    if (err) { read_error(err, got, total); goto out; }
    /* keep present or swapped entries only (bit 63 or 62), each with its record's index */
    Py_ssize_t kept = 0;
    {
        unsigned long long *pm = (unsigned long long *)PyBytes_AS_STRING(data);
        owners = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(sizeof(int) * (size_t)(total / 8)));
        if (!owners) goto out;
        int *own = (int *)PyBytes_AS_STRING(owners);
        Py_BEGIN_ALLOW_THREADS
        long long at = 0;
        for (Py_ssize_t i = 0; i < r.nwalk; i++) {
            long long n = r.walk[WALK_FIELDS * i + W_PAGES];
            for (long long j = 0; j < n; j++, at++) {
                if (pm[at] >> 62) { pm[kept] = pm[at]; own[kept] = (int)i; kept++; }
            }
        }
        Py_END_ALLOW_THREADS
    }
    if (_PyBytes_Resize(&data, (Py_ssize_t)(kept * 8)) < 0) { data = NULL; goto out; }
    if (_PyBytes_Resize(&owners, (Py_ssize_t)(kept * (Py_ssize_t)sizeof(int))) < 0) { owners = NULL; goto out; }
    records = PyBytes_FromStringAndSize((const char *)r.walk, (Py_ssize_t)(sizeof(long long) * WALK_FIELDS * r.nwalk));
    if (records) result = PyTuple_Pack(3, data, owners, records);
out:
    Py_XDECREF(records);
    Py_XDECREF(owners);
    Py_XDECREF(data);
    PyMem_Free(off);
    PyMem_Free(len);
    PyMem_Free(r.walk);
    PyBuffer_Release(&buf);
    return result;
}

/*
 * pread_ranges(): many positioned reads of one file, GIL released
 */

static PyObject *py_pread_ranges(PyObject *self, PyObject *args) {
    int fd;
    PyObject *offsets, *lengths;
    if (!PyArg_ParseTuple(args, "iO!O!", &fd, &PyList_Type, &offsets, &PyList_Type, &lengths)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(offsets);
    if (PyList_GET_SIZE(lengths) != n) { PyErr_SetString(PyExc_ValueError, "offsets and lengths differ"); return NULL; }
    long long *off = PyMem_Malloc(sizeof(long long) * (size_t)(n ? n : 1));
    long long *len = PyMem_Malloc(sizeof(long long) * (size_t)(n ? n : 1));
    if (!off || !len) { PyMem_Free(off); PyMem_Free(len); return PyErr_NoMemory(); }
    long long total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        off[i] = PyLong_AsLongLong(PyList_GET_ITEM(offsets, i));
        len[i] = PyLong_AsLongLong(PyList_GET_ITEM(lengths, i));
        if ((off[i] < 0 || len[i] < 0) && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "negative range");
        if (PyErr_Occurred()) { PyMem_Free(off); PyMem_Free(len); return NULL; }
        total += len[i];
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!out) { PyMem_Free(off); PyMem_Free(len); return NULL; }
    int err;
    long long got;
    Py_BEGIN_ALLOW_THREADS
    err = read_ranges(fd, off, len, n, PyBytes_AS_STRING(out), &got);
    Py_END_ALLOW_THREADS
    PyMem_Free(off);
    PyMem_Free(len);
    if (err) { Py_DECREF(out); return read_error(err, got, total); }
    return out;
}

/*
 * classify_pages(): passes 2 and 3 of --exact without numpy
 *
 * Python (memtype.model.pages) owns the rules; this code only applies them, page by page:
 *   rules      the flag-class rules in decision order, each (all, any, none, count_min, count_max):
 *              a page is in the class of the first rule its kpageflags f and kpagecount c meet,
 *              (f & all) == all, (any == 0 or f & any), !(f & none), count_min <= c <= count_max;
 *              in class len(rules) if none matches
 *   table      TABLE[flag class][pagemap exclusive bit][mapping kind] -> page category
 *   detail     (must be set, must be clear) masks, one per bit of the page detail byte
 */

#define MAX_RULES 64
#define N_DETAIL 8
#define PM_PFN ((1ULL << 55) - 1)

typedef struct { unsigned long long all, any, none, cmin, cmax; } FlagRule;

typedef struct { unsigned long long *keys; int *vals; size_t cap, used; } PfnMap;

static size_t pfn_hash(unsigned long long k, size_t cap) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static int pfnmap_grow(PfnMap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1 << 16;
    unsigned long long *keys = PyMem_Malloc(sizeof(*keys) * cap);
    int *vals = PyMem_Malloc(sizeof(*vals) * cap);
    if (!keys || !vals) { PyMem_Free(keys); PyMem_Free(vals); return -1; }
    for (size_t i = 0; i < cap; i++) keys[i] = ~0ULL;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == ~0ULL) continue;
        size_t h = pfn_hash(m->keys[i], cap);
        while (keys[h] != ~0ULL) h = (h + 1) & (cap - 1);
        keys[h] = m->keys[i];
        vals[h] = m->vals[i];
    }
    PyMem_Free(m->keys); PyMem_Free(m->vals);
    m->keys = keys; m->vals = vals; m->cap = cap;
    return 0;
}

/* index of pfn (inserting it as index m->used if new), or -1 on no memory */
static int pfnmap_put(PfnMap *m, unsigned long long pfn) {
    if ((m->used + 1) * 2 > m->cap && pfnmap_grow(m) < 0) return -1;
    size_t h = pfn_hash(pfn, m->cap);
    while (m->keys[h] != ~0ULL) {
        if (m->keys[h] == pfn) return m->vals[h];
        h = (h + 1) & (m->cap - 1);
    }
    m->keys[h] = pfn;
    m->vals[h] = (int)m->used;
    return (int)m->used++;
}

static int cmp_pfn(const void *a, const void *b) {
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

typedef struct { unsigned long long pfn; int index; } PfnIndex;

static int cmp_pfn_index(const void *a, const void *b) {
    return cmp_pfn(&((const PfnIndex *)a)->pfn, &((const PfnIndex *)b)->pfn);
}

/* values of a kpage* file for the sorted PFNs; past the end of the file: missing */
static int read_kpage(int fd, const PfnIndex *sorted, size_t n, unsigned long long *out, unsigned long long missing) {
    const size_t gap = 64;
    unsigned long long *block = NULL;
    size_t block_cap = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && sorted[j].pfn - sorted[j - 1].pfn <= gap) j++;
        unsigned long long first = sorted[i].pfn, last = sorted[j - 1].pfn;
        size_t count = (size_t)(last - first + 1);
        if (count > block_cap) {
            unsigned long long *grown = PyMem_RawRealloc(block, count * 8);
            if (!grown) { PyMem_RawFree(block); errno = ENOMEM; return -1; }
            block = grown; block_cap = count;
        }
        size_t done = 0;
        while (done < count * 8) {
            ssize_t r = pread(fd, (char *)block + done, count * 8 - done, (off_t)(first * 8 + done));
            if (r < 0) { if (errno == EINTR) continue; PyMem_RawFree(block); return -1; }
            if (r == 0) break;
            done += (size_t)r;
        }
        size_t have = done / 8;
        for (size_t k = i; k < j; k++) {
            size_t at = (size_t)(sorted[k].pfn - first);
            out[sorted[k].index] = at < have ? block[at] : missing;
        }
        i = j;
    }
    PyMem_RawFree(block);
    return 0;
}

static int flag_class(const FlagRule *rules, int n, unsigned long long f, unsigned long long c) {
    for (int t = 0; t < n; t++) {
        const FlagRule *q = &rules[t];
        if ((f & q->all) == q->all && (!q->any || (f & q->any)) && !(f & q->none) && c >= q->cmin && c <= q->cmax)
            return t;
    }
    return n;
}

/* The rules and detail masks from their Python tuples; -1 with an exception set. */
static int read_rules(PyObject *rules_obj, PyObject *detail_obj, FlagRule *rules, int *nrules,
                      unsigned long long detail_mask[N_DETAIL][2]) {
    Py_ssize_t n = PyTuple_GET_SIZE(rules_obj);
    if (n > MAX_RULES || PyTuple_GET_SIZE(detail_obj) != N_DETAIL) {
        PyErr_SetString(PyExc_ValueError, "rules or detail masks");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(rules_obj, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 5) { PyErr_SetString(PyExc_ValueError, "rule"); return -1; }
        unsigned long long v[5];
        for (int k = 0; k < 5; k++) v[k] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, k));
        rules[i] = (FlagRule){v[0], v[1], v[2], v[3], v[4]};
    }
    for (int i = 0; i < N_DETAIL; i++) {
        PyObject *pair = PyTuple_GET_ITEM(detail_obj, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) { PyErr_SetString(PyExc_ValueError, "detail"); return -1; }
        detail_mask[i][0] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(pair, 0)); /* must be set */
        detail_mask[i][1] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(pair, 1)); /* must be clear */
    }
    *nrules = (int)n;
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *py_classify_pages(PyObject *self, PyObject *args) {
    PyObject *procs, *rules_obj, *detail_obj;
    Py_buffer table_buf;
    int flags_fd, count_fd, want_records, nrules;
    long long page, nopage;
    FlagRule rules[MAX_RULES];
    unsigned long long detail_mask[N_DETAIL][2];
    if (!PyArg_ParseTuple(args, "O!iiO!O!y*LLp", &PyList_Type, &procs, &flags_fd, &count_fd, &PyTuple_Type,
                          &rules_obj, &PyTuple_Type, &detail_obj, &table_buf, &page, &nopage, &want_records))
        return NULL;
    PyObject *result = NULL;
    PfnMap map = {0};
    unsigned long long *flags = NULL, *counts = NULL;
    PfnIndex *sorted = NULL;
    int *slots = NULL;
    signed char *fclass = NULL; unsigned char *detail = NULL;
    if (read_rules(rules_obj, detail_obj, rules, &nrules, detail_mask) < 0) goto out;
    if (table_buf.len != (nrules + 1) * 2 * N_VK) { PyErr_SetString(PyExc_ValueError, "decision table size"); goto out; }
    const signed char *table = table_buf.buf;
    for (Py_ssize_t i = 0; i < table_buf.len; i++)
        if (table[i] < 0 || table[i] >= NCAT) { PyErr_SetString(PyExc_ValueError, "decision table"); goto out; }
    Py_ssize_t nproc = PyList_GET_SIZE(procs);
    /* pass 2a: distinct PFNs of present entries; each entry remembers its PFN's slot for pass 3 */
    Py_ssize_t nentries = 0;
    for (Py_ssize_t p = 0; p < nproc; p++) {
        PyObject *t = PyList_GET_ITEM(procs, p);
        if (PyTuple_Check(t) && PyTuple_GET_SIZE(t) == 3 && PyBytes_Check(PyTuple_GET_ITEM(t, 0)))
            nentries += PyBytes_GET_SIZE(PyTuple_GET_ITEM(t, 0)) / 8;
    }
    slots = PyMem_Malloc(sizeof(int) * (size_t)(nentries + 1));
    if (!slots) { PyErr_NoMemory(); goto out; }
    Py_ssize_t at = 0;
    for (Py_ssize_t p = 0; p < nproc; p++) {
        PyObject *t = PyList_GET_ITEM(procs, p);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3 || !PyBytes_Check(PyTuple_GET_ITEM(t, 0))) {
            PyErr_SetString(PyExc_TypeError, "procs items: (entries, owners, records)"); goto out;
        }
        PyObject *pm_obj = PyTuple_GET_ITEM(t, 0);
        const unsigned long long *pm = (const unsigned long long *)PyBytes_AS_STRING(pm_obj);
        Py_ssize_t n = PyBytes_GET_SIZE(pm_obj) / 8;
        for (Py_ssize_t i = 0; i < n; i++, at++) {
            slots[at] = -1;
            if (pm[i] >> 63 && (slots[at] = pfnmap_put(&map, pm[i] & PM_PFN)) < 0) { PyErr_NoMemory(); goto out; }
        }
    }
    size_t nu = map.used;
    flags = PyMem_Malloc(sizeof(*flags) * (nu + 1));
    counts = PyMem_Malloc(sizeof(*counts) * (nu + 1));
    sorted = PyMem_Malloc(sizeof(*sorted) * (nu + 1));
    fclass = PyMem_Malloc(nu + 1);
    detail = PyMem_Malloc(nu + 1);
    if (!flags || !counts || !sorted || !fclass || !detail) { PyErr_NoMemory(); goto out; }
    size_t k = 0;
    for (size_t i = 0; i < map.cap; i++)
        if (map.keys[i] != ~0ULL) { sorted[k].pfn = map.keys[i]; sorted[k].index = map.vals[i]; k++; }
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    qsort(sorted, nu, sizeof(*sorted), cmp_pfn_index);
    /* pass 2b: kpageflags and kpagecount in runs, then each PFN's flag class and detail byte */
    if (read_kpage(flags_fd, sorted, nu, flags, (unsigned long long)nopage) < 0 ||
        read_kpage(count_fd, sorted, nu, counts, 0) < 0)
        err = errno;
    for (size_t u = 0; u < nu && !err; u++) {
        unsigned long long f = flags[u];
        fclass[u] = (signed char)flag_class(rules, nrules, f, counts[u]);
        unsigned char d = 0;
        for (int b = 0; b < N_DETAIL; b++)
            if ((f & detail_mask[b][0]) && !(f & detail_mask[b][1])) d |= (unsigned char)(1 << b);
        detail[u] = d;
    }
    Py_END_ALLOW_THREADS
    if (err) { errno = err; PyErr_SetFromErrno(PyExc_OSError); goto out; }
    /* pass 3: per process, per mapping record and category */
    result = PyList_New(nproc);
    if (!result) goto out;
    const int *slot = slots;
    for (Py_ssize_t p = 0; p < nproc; p++) {
        PyObject *t = PyList_GET_ITEM(procs, p);
        PyObject *pm_obj = PyTuple_GET_ITEM(t, 0), *own_obj = PyTuple_GET_ITEM(t, 1), *rec_obj = PyTuple_GET_ITEM(t, 2);
        if (!PyBytes_Check(own_obj) || !PyBytes_Check(rec_obj)) { PyErr_SetString(PyExc_TypeError, "bytes"); goto fail; }
        const unsigned long long *pm = (const unsigned long long *)PyBytes_AS_STRING(pm_obj);
        const int *own = (const int *)PyBytes_AS_STRING(own_obj);
        const long long *rec = (const long long *)PyBytes_AS_STRING(rec_obj);
        Py_ssize_t n = PyBytes_GET_SIZE(pm_obj) / 8, nrec = PyBytes_GET_SIZE(rec_obj) / (8 * WALK_FIELDS);
        PyObject *cnt_obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(nrec * NCAT * 8));
        PyObject *pss_obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(nrec * NCAT * 8));
        double *pss_sum = PyMem_Calloc((size_t)(nrec * NCAT + 1), sizeof(double));
        if (!cnt_obj || !pss_obj || !pss_sum) { Py_XDECREF(cnt_obj); Py_XDECREF(pss_obj); PyMem_Free(pss_sum); goto fail; }
        long long *cnt = (long long *)PyBytes_AS_STRING(cnt_obj), *pss_bytes = (long long *)PyBytes_AS_STRING(pss_obj);
        memset(cnt, 0, (size_t)(nrec * NCAT * 8));
        long long uss = 0, dcount[N_DETAIL] = {0}, kind_pages[NCAT] = {0}, kind_pss[NCAT] = {0};
        int bad = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            unsigned long long e = pm[i];
            int o = own[i];
            if (o < 0 || o >= nrec) { bad = 1; break; }
            int cat, guard = (e >> 58) & 1;
            if ((e >> 63) && !guard) {
                int u = slot[i];
                if (u < 0) { bad = 1; break; }
                int vk = (int)rec[o * WALK_FIELDS + W_VKIND];
                if (vk < 0 || vk >= N_VK) { bad = 1; break; }
                cat = table[(fclass[u] * 2 + (int)((e >> 56) & 1)) * N_VK + vk];
                pss_sum[o * NCAT + cat] += 1.0 / (double)(counts[u] > 1 ? counts[u] : 1);
                if (cat >= CAT_ANON && cat <= CAT_DEVICE) {
                    uss += counts[u] == 1;
                    for (int b = 0; b < N_DETAIL; b++) dcount[b] += (detail[u] >> b) & 1;
                }
            } else if ((e >> 62) & 1 && !guard) {
                cat = CAT_SWAP;
            } else {
                cat = CAT_NONE;
            }
            cnt[o * NCAT + cat]++;
        }
        for (Py_ssize_t r = 0; r < nrec * NCAT; r++) {
            /* PSS bytes rounded per mapping and kind; the process sums those (Python's rule too) */
            pss_bytes[r] = (long long)llround(pss_sum[r] * (double)page);
            kind_pages[r % NCAT] += cnt[r];
            kind_pss[r % NCAT] += pss_bytes[r];
        }
        Py_END_ALLOW_THREADS
        PyMem_Free(pss_sum);
        slot += n;
        if (bad) { Py_DECREF(cnt_obj); Py_DECREF(pss_obj); PyErr_SetString(PyExc_ValueError, "inconsistent page records"); goto fail; }
        PyObject *kp = ll_tuple(kind_pages, NCAT), *ks = ll_tuple(kind_pss, NCAT), *dc = ll_tuple(dcount, N_DETAIL);
        PyObject *item = (kp && ks && dc) ? Py_BuildValue("(OOLOOO)", kp, ks, uss, dc,
                                                          want_records ? cnt_obj : Py_None,
                                                          want_records ? pss_obj : Py_None) : NULL;
        Py_XDECREF(kp); Py_XDECREF(ks); Py_XDECREF(dc); Py_DECREF(cnt_obj); Py_DECREF(pss_obj);
        if (!item) goto fail;
        PyList_SET_ITEM(result, p, item);
    }
    goto out;
fail:
    Py_CLEAR(result);
out:
    PyMem_Free(map.keys); PyMem_Free(map.vals); PyMem_Free(flags); PyMem_Free(counts); PyMem_Free(sorted);
    PyMem_Free(fclass); PyMem_Free(detail); PyMem_Free(slots);
    PyBuffer_Release(&table_buf);
    return result;
}

/*
 * The module: methods, and the vocabularies as tuples of str
 */

static PyMethodDef methods[] = {
    {"parse", py_parse, METH_VARARGS, "parse(data, vma_type=tuple) -> (names, vmas)"},
    {"summarize", py_summarize, METH_VARARGS, "summarize(data, classes, classify) -> (totals, kinds, reclaim) in kB"},
    {"walk_pagemap", py_walk_pagemap, METH_VARARGS,
     "walk_pagemap(smaps, classes, classify, fd, page, zero_walk_limit) -> (entries, owners, records)"},
    {"classify_pages", py_classify_pages, METH_VARARGS,
     "classify_pages(procs, flags_fd, count_fd, rules, detail_masks, table, page, nopage, want_records)"},
    {"pread_ranges", py_pread_ranges, METH_VARARGS,
     "pread_ranges(fd, offsets, lengths) -> bytes: the ranges' bytes, concatenated (GIL released)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_smaps", "Fast smaps reader.", -1, methods};

static int add_names(PyObject *m, const char *attr, const char *const *names, int n) {
    PyObject *t = PyTuple_New(n);
    if (!t) return -1;
    for (int i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(names[i]);
        if (!s) { Py_DECREF(t); return -1; }
        PyTuple_SET_ITEM(t, i, s);
    }
    int rc = PyModule_AddObjectRef(m, attr, t);
    Py_DECREF(t);
    return rc;
}

PyMODINIT_FUNC PyInit__smaps(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (add_names(m, "SMAPS_FIELDS", SMAPS_FIELD_NAMES, COUNT(SMAPS_FIELD_NAMES)) < 0 ||
        add_names(m, "MAP_CLASSES", MAP_CLASS_NAMES, COUNT(MAP_CLASS_NAMES)) < 0 ||
        add_names(m, "KINDS", KIND_NAMES, COUNT(KIND_NAMES)) < 0 ||
        add_names(m, "KIND_PARTS", KIND_PART_NAMES, COUNT(KIND_PART_NAMES)) < 0 ||
        add_names(m, "TOTALS", TOTAL_NAMES, COUNT(TOTAL_NAMES)) < 0 ||
        add_names(m, "RECLAIM_CLASSES", RECLAIM_NAMES, COUNT(RECLAIM_NAMES)) < 0 ||
        add_names(m, "PAGE_CATEGORIES", PAGE_CATEGORY_NAMES, COUNT(PAGE_CATEGORY_NAMES)) < 0 ||
        add_names(m, "MAPPING_KINDS", MAPPING_KIND_NAMES, COUNT(MAPPING_KIND_NAMES)) < 0 ||
        add_names(m, "WALK_FIELDS", WALK_FIELD_NAMES, COUNT(WALK_FIELD_NAMES)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *max_kb = PyLong_FromLongLong(MAX_KB);
    int rc = max_kb ? PyModule_AddObjectRef(m, "MAX_KB", max_kb) : -1;
    Py_XDECREF(max_kb);
    if (rc < 0) { Py_DECREF(m); return NULL; }
    return m;
}
