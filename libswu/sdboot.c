/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "sdboot.h"

#define EFI_VARIABLE_NON_VOLATILE 0x1u
/* EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS, as bootctl set-default. */
#define EFIVAR_ATTRIBUTES 0x7u
#define EFIVAR_MAX	  4096
#define STEM_MAX	  64

int swu_sdboot_check_stem(const char *stem)
{
	size_t n;

	assert_return(stem, -EINVAL);

	n = strlen(stem);
	if (n == 0 || n > STEM_MAX || stem[0] == '.' || strncasecmp(stem, "auto-", 5) == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)stem[i]) && !strchr("_-.", stem[i]))
			return -EINVAL;
	return 0;
}

/* "[0-9]+" as systemd-boot's parse_number16() reads it, up to INT_MAX; NULL when it is not. */
static const char *parse_count(const char *p, int *ret)
{
	long long v = 0;

	if (!isdigit((unsigned char)*p))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return NULL;
	}
	*ret = (int)v;
	return p;
}

int swu_sdboot_parse_name(const char *stem, const char *name, SwuSdbootEntry *ret)
{
	size_t n, len;
	const char *p;
	int left, done = 0;
	char slot;

	assert_return(stem, -EINVAL);
	assert_return(name, -EINVAL);
	assert_return(ret, -EINVAL);

	n = strlen(stem);
	len = strlen(name);
	if (strncasecmp(name, stem, n) != 0 || name[n] != '-')
		return -ENOENT;
	slot = (char)toupper((unsigned char)name[n + 1]);
	if (slot != 'A' && slot != 'B')
		return -ENOENT;
	p = name + n + 2;
	/* Files not ending in .efi are no entries for systemd-boot either. */
	if ((*p != '.' && *p != '+') || len < 4 || strcasecmp(name + len - 4, ".efi") != 0)
		return -ENOENT;
	if (*p == '.') {
		if (p != name + len - 4)
			return -ENOENT; /* "<stem>-A.x.efi": another file */
		*ret = (SwuSdbootEntry){ slot, -1, 0 };
		return 0;
	}
	/* systemd-boot boots a name with a counter it cannot read, without counting. */
	p = parse_count(p + 1, &left);
	if (p && *p == '-')
		p = parse_count(p + 1, &done);
	if (!p || p != name + len - 4)
		return -EBADMSG;
	*ret = (SwuSdbootEntry){ slot, left, done };
	return 0;
}

int swu_sdboot_default_pattern(const char *stem, char slot, char **ret)
{
	char *s;

	assert_return(stem, -EINVAL);
	assert_return(slot == 'A' || slot == 'B', -EINVAL);
	assert_return(ret, -EINVAL);

	/* ".efi" (good) or "+1".."+9..." (tries left), never "+0": systemd-boot takes a default
	 * pattern's first match whatever its counter, so the pattern must not match a used-up one. */
	if (asprintf(&s, "%s-%c[.+][e1-9]*", stem, slot) < 0)
		return -ENOMEM;
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	*ret = s;
	return 0;
}

static char *efivar_path(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s-%s", dir, name, SWU_SDBOOT_LOADER_GUID) < 0 ? NULL : p;
}

/* swu_sdboot_read_efivar(), and the variable's attributes in @ret_attributes. */
static int read_efivar(const char *dir, const char *name, char **ret, uint32_t *ret_attributes)
{
	_cleanup_free_ char *path = NULL, *s = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	size_t size = 0, n = 0;
	int r;

	path = efivar_path(dir, name);
	if (!path)
		return -ENOMEM;
	r = swu_read_file(path, EFIVAR_MAX, &data, &size);
	if (r < 0)
		return r;
	if (size < 4 || (size - 4) % 2 != 0)
		return -EBADMSG;
	s = malloc((size - 4) / 2 + 1);
	if (!s)
		return -ENOMEM;
	for (size_t i = 4; i < size; i += 2) {
		unsigned c = data[i] | (unsigned)data[i + 1] << 8;

		if (c == 0) {
			/* the terminating NUL: nothing but NULs may follow */
			for (size_t j = i; j < size; j++)
				if (data[j] != 0)
					return -EBADMSG;
			break;
		}
		if (c < 0x20 || c > 0x7e)
			return -EBADMSG;
		s[n++] = (char)c;
	}
	s[n] = 0;
	*ret = TAKE_PTR(s);
	*ret_attributes = data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
			  (uint32_t)data[3] << 24;
	return 0;
}

int swu_sdboot_read_efivar(const char *dir, const char *name, char **ret)
{
	uint32_t attributes;

	assert_return(dir, -EINVAL);
	assert_return(name, -EINVAL);
	assert_return(ret, -EINVAL);

	return read_efivar(dir, name, ret, &attributes);
}

/*
 * Lifts the immutable flag efivarfs puts on a variable, through a read-only descriptor: an
 * immutable file cannot even be opened for writing. 1 and the old flags in @ret when it was set,
 * 0 when there is nothing to lift (no such variable, or a filesystem without flags).
 */
static int lift_immutable(const char *path, int *ret_fd, int *ret)
{
	_cleanup_close_ int fd = -EBADF;
	int flags = 0, mutable;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 || !(flags & FS_IMMUTABLE_FL))
		return 0;
	mutable = flags & ~FS_IMMUTABLE_FL;
	if (ioctl(fd, FS_IOC_SETFLAGS, &mutable) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	*ret = flags;
	return 1;
}

int swu_sdboot_write_efivar(const char *dir, const char *name, const char *value)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -EBADF, ro = -EBADF;
	size_t len, size;
	struct statfs sfs;
	bool efivarfs;
	int flags = 0, r;
	ssize_t k;

	assert_return(dir, -EINVAL);
	assert_return(name, -EINVAL);
	assert_return(value, -EINVAL);

	path = efivar_path(dir, name);
	len = strlen(value);
	size = 4 + 2 * (len + 1);
	buf = calloc(1, size);
	if (!path || !buf)
		return -ENOMEM;
	buf[0] = EFIVAR_ATTRIBUTES;
	for (size_t i = 0; i < len; i++)
		buf[4 + 2 * i] = (uint8_t)value[i];
	/* as systemd's efi_set_variable(): flag lifted, one write, flag restored */
	r = lift_immutable(path, &ro, &flags);
	if (r < 0)
		return r;
	/* efivarfs replaces the variable with each write; a test's plain file is truncated */
	efivarfs = statfs(dir, &sfs) == 0 && (uint32_t)sfs.f_type == (uint32_t)EFIVARFS_MAGIC;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (efivarfs ? 0 : O_TRUNC), 0644);
	if (fd < 0)
		r = -errno;
	else {
		/* One write: efivarfs takes the attributes and the whole value at once. */
		k = write(fd, buf, size);
		r = k < 0 ? -errno : (size_t)k != size ? -EIO : 0;
		if (r >= 0 && !efivarfs && fsync(fd) < 0)
			r = -errno;
	}
	if (ro >= 0)
		(void)ioctl(ro, FS_IOC_SETFLAGS, &flags);
	return r;
}

int swu_sdboot_selected_slot(SwuContext *ctx, const SwuBootConfig *c, char *ret)
{
	_cleanup_free_ char *id = NULL;
	uint32_t attributes;
	SwuSdbootEntry e;
	int r;

	assert_return(ctx, -EINVAL);
	assert_return(c && c->efivars && c->entry_stem, -EINVAL);
	assert_return(ret, -EINVAL);

	r = read_efivar(c->efivars, "LoaderEntrySelected", &id, &attributes);
	if (r == -EBADMSG)
		return -ENOENT; /* no name of ours */
	if (r < 0)
		return r;
	/* systemd-boot sets it volatile at every boot. A non-volatile one was planted from a running
	 * system, and the firmware then refuses systemd-boot's own write: it names a slot forever. */
	if (attributes & EFI_VARIABLE_NON_VOLATILE)
		return swu_fail(ctx, -EPERM, "boot", "systemd-boot",
				"LoaderEntrySelected ('%s') is non-volatile: systemd-boot "
				"never sets it so, it was written from a running system",
				id);
	/* systemd-boot 252 sets the entry's id: its file name in lower case, the counter as it
	 * was before this boot counted down */
	if (swu_sdboot_parse_name(c->entry_stem, id, &e) < 0)
		return -ENOENT;
	swu_log_debug(ctx, "systemd-boot booted '%s': slot %c", id, e.slot);
	*ret = e.slot;
	return 0;
}

/* The files of one slot in the entries directory. */
typedef enum SlotFileKind {
	SLOT_FILE_ENTRY,     /* an entry systemd-boot counts (or a good one) */
	SLOT_FILE_MALFORMED, /* a name of the slot's systemd-boot boots, not one of our entries */
	SLOT_FILE_STAGING,   /* .<stem>-<slot>.efi.new */
} SlotFileKind;

typedef struct SlotFile {
	const char *name;
	SlotFileKind kind;
	SwuSdbootEntry e;
} SlotFile;

/* The first entry of a kind a listing found. */
typedef struct SlotEntry {
	bool found;
	char name[NAME_MAX + 1];
	SwuSdbootEntry e;
} SlotEntry;

/* What a listing found of one slot: no fixed list, however many files were planted. */
typedef struct SlotFiles {
	SlotEntry good, counted;
	size_t n;      /* files of the slot, its staging file included */
	uint64_t size; /* their sizes */
} SlotFiles;

typedef int (*SlotFileFunc)(SwuContext *ctx, const SwuBootConfig *c, int dfd, const SlotFile *f,
			    void *userdata);

static char *entries_dir(const SwuBootConfig *c)
{
	char *p;

	return asprintf(&p, "%s/EFI/Linux", c->esp) < 0 ? NULL : p;
}

static int open_entries(SwuContext *ctx, const SwuBootConfig *c, int *ret)
{
	_cleanup_free_ char *dir = NULL;
	int fd;

	assert_return(c->esp && c->entry_stem, -EINVAL);
	dir = entries_dir(c);
	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot", "cannot open '%s': %s", dir,
				strerror(errno));
	*ret = fd;
	return 0;
}

static char *staging_name(const SwuBootConfig *c, char slot)
{
	char *p;

	return asprintf(&p, ".%s-%c.efi.new", c->entry_stem, slot) < 0 ? NULL : p;
}

/*
 * Whether @name is a file of @slot, and which. Besides the names parse_name() reads as the slot's,
 * whatever the slot's default pattern matches is the slot's (systemd-boot matches the lower-cased
 * name): "<stem>-b.eold.efi" is no entry of ours, but systemd-boot boots it when the default
 * names B, so it goes with the slot's entries.
 */
static bool classify(const SwuBootConfig *c, char slot, const char *pattern, const char *staging,
		     const char *name, SlotFile *ret)
{
	SwuSdbootEntry e;
	size_t len = strlen(name);
	int r;

	if (strcasecmp(name, staging) == 0) {
		*ret = (SlotFile){ name, SLOT_FILE_STAGING };
		return true;
	}
	r = swu_sdboot_parse_name(c->entry_stem, name, &e);
	if (r == 0 && e.slot == slot) {
		*ret = (SlotFile){ name, SLOT_FILE_ENTRY, e };
		return true;
	}
	/* a malformed name has the stem and the slot letter: parse_name read them */
	if ((r == -EBADMSG && toupper((unsigned char)name[strlen(c->entry_stem) + 1]) == slot) ||
	    (r == -ENOENT && len >= 4 && strcasecmp(name + len - 4, ".efi") == 0 &&
	     fnmatch(pattern, name, FNM_CASEFOLD) == 0)) {
		*ret = (SlotFile){ name, SLOT_FILE_MALFORMED };
		return true;
	}
	return false;
}

/* Calls @fn for each file of @slot, read as the directory is listed; stops at its first error. */
static int for_each_slot_file(SwuContext *ctx, const SwuBootConfig *c, int dfd, char slot,
			      SlotFileFunc fn, void *userdata)
{
	_cleanup_free_ char *staging = staging_name(c, slot), *pattern = NULL;
	DIR *d;
	int fd, r;

	if (!staging || swu_sdboot_default_pattern(c->entry_stem, slot, &pattern) < 0)
		return -ENOMEM;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		r = -errno;
		safe_close(fd);
		goto fail;
	}
	for (;;) {
		struct dirent *de;
		SlotFile f;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (!classify(c, slot, pattern, staging, de->d_name, &f))
			continue;
		r = fn(ctx, c, dfd, &f, userdata);
		if (r < 0) {
			closedir(d);
			return r; /* @fn said why */
		}
	}
	closedir(d);
	if (r == 0)
		return 0;
fail:
	return swu_fail(ctx, r, "boot", "systemd-boot",
			"cannot list the files of slot %c in '%s/EFI/Linux': %s", slot, c->esp,
			strerror(-r));
}

static int add_file(SwuContext *ctx, const SwuBootConfig *c, int dfd, const SlotFile *f,
		    void *userdata)
{
	SlotFiles *s = userdata;
	SlotEntry *e = NULL;
	struct stat st;

	if (fstatat(dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		s->size += (uint64_t)st.st_size;
	s->n++;
	if (f->kind == SLOT_FILE_ENTRY)
		e = f->e.tries_left < 0 ? &s->good : &s->counted;
	if (e && !e->found) {
		e->found = true;
		snprintf(e->name, sizeof(e->name), "%s", f->name);
		e->e = f->e;
	}
	return 0;
}

static int scan(SwuContext *ctx, const SwuBootConfig *c, int dfd, char slot, SlotFiles *ret)
{
	*ret = (SlotFiles){};
	return for_each_slot_file(ctx, c, dfd, slot, add_file, ret);
}

static const SlotEntry *find_entry(const SlotFiles *s, bool counted)
{
	const SlotEntry *e = counted ? &s->counted : &s->good;

	return e->found ? e : NULL;
}

/* An entry systemd-boot boots when the default names it: good, or with tries left. */
static bool bootable(const SlotFiles *s)
{
	const SlotEntry *f = find_entry(s, false) ?: find_entry(s, true);

	return f && f->e.tries_left != 0;
}

static int capacity(SwuContext *ctx, const SwuBootConfig *c, int dfd, char slot, uint64_t *ret)
{
	SlotFiles s;
	struct statvfs sv;
	uint64_t total;
	int r;

	r = scan(ctx, c, dfd, slot, &s);
	if (r < 0)
		return r;
	if (fstatvfs(dfd, &sv) < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot",
				"cannot tell the free space of '%s': %s", c->esp, strerror(errno));
	total = (uint64_t)sv.f_bavail * sv.f_frsize;
	*ret = total + s.size;
	return 0;
}

int swu_sdboot_capacity(SwuContext *ctx, const SwuBootConfig *c, char slot, uint64_t *ret)
{
	_cleanup_close_ int dfd = -EBADF;
	int r;

	assert_return(ctx && c && ret, -EINVAL);

	r = open_entries(ctx, c, &dfd);
	return r < 0 ? r : capacity(ctx, c, dfd, slot, ret);
}

static int discard_new(SwuContext *ctx, const SwuBootConfig *c, int dfd, char slot)
{
	_cleanup_free_ char *staging = staging_name(c, slot);

	if (!staging)
		return -ENOMEM;
	if (unlinkat(dfd, staging, 0) < 0 && errno != ENOENT)
		return swu_fail(ctx, -errno, "boot", "systemd-boot",
				"cannot remove '%s/EFI/Linux/%s': %s", c->esp, staging,
				strerror(errno));
	return 0;
}

int swu_sdboot_discard_new(SwuContext *ctx, const SwuBootConfig *c, char slot)
{
	_cleanup_close_ int dfd = -EBADF;
	int r;

	assert_return(ctx && c, -EINVAL);

	r = open_entries(ctx, c, &dfd);
	return r < 0 ? r : discard_new(ctx, c, dfd, slot);
}

int swu_sdboot_open_new(SwuContext *ctx, const SwuBootConfig *c, char slot, int *ret_fd,
			uint64_t *ret_size)
{
	_cleanup_free_ char *staging = NULL;
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	uint64_t size;
	int r;

	assert_return(ctx && c && ret_fd && ret_size, -EINVAL);

	staging = staging_name(c, slot);
	if (!staging)
		return -ENOMEM;
	r = open_entries(ctx, c, &dfd);
	if (r >= 0)
		r = capacity(ctx, c, dfd, slot, &size);
	if (r >= 0)
		r = discard_new(ctx, c, dfd, slot);
	if (r < 0)
		return r;
	/* Never the slot's entry itself: systemd-boot does not see this name until the switch. */
	fd = openat(dfd, staging, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot",
				"cannot create '%s/EFI/Linux/%s': %s", c->esp, staging,
				strerror(errno));
	*ret_fd = TAKE_FD(fd);
	*ret_size = size;
	return 0;
}

/* The entry of @slot in @ret (its good one first): -ENOENT, not reported, when it has none. */
static int slot_entry(SwuContext *ctx, const SwuBootConfig *c, int dfd, char slot, SlotEntry *ret)
{
	const SlotEntry *f;
	SlotFiles s;
	int r;

	r = scan(ctx, c, dfd, slot, &s);
	if (r < 0)
		return r;
	f = find_entry(&s, false) ?: find_entry(&s, true);
	if (!f)
		return -ENOENT;
	*ret = *f;
	return 0;
}

int swu_sdboot_get_entry(SwuContext *ctx, const SwuBootConfig *c, char slot, SwuSdbootEntry *ret)
{
	_cleanup_close_ int dfd = -EBADF;
	SlotEntry f;
	int r;

	assert_return(ctx && c && ret, -EINVAL);

	r = open_entries(ctx, c, &dfd);
	if (r >= 0)
		r = slot_entry(ctx, c, dfd, slot, &f);
	if (r < 0)
		return r;
	*ret = f.e;
	return 0;
}

int swu_sdboot_open_active(SwuContext *ctx, const SwuBootConfig *c, char slot, int *ret_fd,
			   uint64_t *ret_size)
{
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	struct stat st;
	SlotEntry f;
	int r;

	assert_return(ctx && c && ret_fd && ret_size, -EINVAL);

	r = open_entries(ctx, c, &dfd);
	if (r >= 0)
		r = slot_entry(ctx, c, dfd, slot, &f);
	if (r == -ENOENT)
		return swu_fail(ctx, r, "boot", "systemd-boot",
				"slot %c has no entry in '%s/EFI/Linux'", slot, c->esp);
	if (r < 0)
		return r;
	fd = openat(dfd, f.name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot", "cannot open '%s': %s", f.name,
				strerror(errno));
	*ret_fd = TAKE_FD(fd);
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

/* LoaderEntryDefault names @slot: written only when it does not already (NVRAM wears). */
static int set_default(SwuContext *ctx, const SwuBootConfig *c, char slot)
{
	_cleanup_free_ char *pattern = NULL, *now = NULL;
	int r;

	r = swu_sdboot_default_pattern(c->entry_stem, slot, &pattern);
	if (r < 0)
		return r;
	if (swu_sdboot_read_efivar(c->efivars, "LoaderEntryDefault", &now) >= 0 &&
	    strcasecmp(now, pattern) == 0)
		return 0;
	swu_fault_point(ctx, "sdboot-efivar");
	r = swu_sdboot_write_efivar(c->efivars, "LoaderEntryDefault", pattern);
	if (r < 0)
		return swu_fail(ctx, r, "boot", "systemd-boot",
				"cannot set the EFI variable LoaderEntryDefault in '%s': %s",
				c->efivars, strerror(-r));
	return 0;
}

static int sync_dir(SwuContext *ctx, const SwuBootConfig *c, int dfd)
{
	if (fsync(dfd) < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot",
				"cannot flush '%s/EFI/Linux': %s", c->esp, strerror(errno));
	return 0;
}

static int remove_file(SwuContext *ctx, const SwuBootConfig *c, int dfd, const SlotFile *f,
		       void *userdata)
{
	size_t *n = userdata;

	if (f->kind == SLOT_FILE_STAGING)
		return 0;
	swu_fault_point(ctx, "sdboot-remove");
	/* gone meanwhile: renamed by systemd-bless-boot, perhaps; the next listing tells */
	if (unlinkat(dfd, f->name, 0) < 0 && errno != ENOENT)
		return swu_fail(ctx, -errno, "boot", "systemd-boot",
				"cannot remove '%s/EFI/Linux/%s': %s", c->esp, f->name,
				strerror(errno));
	(*n)++;
	return 0;
}

/*
 * Removes the files of @slot systemd-boot could boot; its staging file stays, systemd-boot never
 * sees it. Listed again until none is left: systemd-bless-boot may rename an entry between a
 * listing and its removal, and the good name it gives must not survive a slot marked bad.
 */
#define REMOVE_ROUNDS 8
static int remove_slot(SwuContext *ctx, const SwuBootConfig *c, int dfd, char slot)
{
	bool removed = false;
	int r;

	for (int round = 0;; round++) {
		size_t n = 0;

		r = for_each_slot_file(ctx, c, dfd, slot, remove_file, &n);
		if (r < 0)
			return r;
		if (n == 0)
			break;
		removed = true;
		if (round == REMOVE_ROUNDS)
			return swu_fail(ctx, -EBUSY, "boot", "systemd-boot",
					"files of slot %c keep appearing in '%s/EFI/Linux'", slot,
					c->esp);
	}
	return removed ? sync_dir(ctx, c, dfd) : 0;
}

int swu_sdboot_try(SwuContext *ctx, const SwuBootConfig *c, char slot)
{
	_cleanup_free_ char *staging = NULL, *name = NULL;
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	int r;

	assert_return(ctx && c, -EINVAL);

	staging = staging_name(c, slot);
	if (!staging || asprintf(&name, "%s-%c+%u.efi", c->entry_stem, slot, c->attempts) < 0)
		return -ENOMEM;
	r = open_entries(ctx, c, &dfd);
	if (r < 0)
		return r;
	fd = openat(dfd, staging, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot",
				"no new image for slot %c: '%s/EFI/Linux/%s': %s", slot, c->esp,
				staging, strerror(errno));
	if (fsync(fd) < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot", "cannot flush '%s': %s",
				staging, strerror(errno));
	/* An entry of an earlier switch that never completed goes first: one entry per slot. */
	r = remove_slot(ctx, c, dfd, slot);
	if (r < 0)
		return r;
	/* The rename is the switch: before it systemd-boot cannot see the new image, after it the
	 * image is whole (fsync'ed). Only then does the default name the slot, so a cut in between
	 * leaves the old slot the default, and swupdated takes the install for interrupted. */
	swu_fault_point(ctx, "sdboot-rename");
	if (renameat(dfd, staging, dfd, name) < 0)
		return swu_fail(ctx, -errno, "boot", "systemd-boot",
				"cannot rename '%s' to '%s' in '%s/EFI/Linux': %s", staging, name,
				c->esp, strerror(errno));
	r = sync_dir(ctx, c, dfd);
	return r < 0 ? r : set_default(ctx, c, slot);
}

int swu_sdboot_mark_good(SwuContext *ctx, const SwuBootConfig *c, char slot)
{
	_cleanup_free_ char *good = NULL;
	_cleanup_close_ int dfd = -EBADF;
	const SlotEntry *f;
	SlotFiles s;
	int r;

	assert_return(ctx && c, -EINVAL);

	if (asprintf(&good, "%s-%c.efi", c->entry_stem, slot) < 0)
		return -ENOMEM;
	r = open_entries(ctx, c, &dfd);
	if (r < 0)
		return r;
	/* systemd-bless-boot renames the same file the same way: whoever comes second finds the
	 * good name, or the counted one gone (ENOENT) and then the good name. */
	for (int attempt = 0;; attempt++) {
		r = scan(ctx, c, dfd, slot, &s);
		if (r < 0)
			return r;
		if (find_entry(&s, false))
			break;
		f = find_entry(&s, true);
		if (!f)
			return swu_fail(ctx, -ENOENT, "boot", "systemd-boot",
					"slot %c has no entry in '%s/EFI/Linux'", slot, c->esp);
		swu_fault_point(ctx, "sdboot-rename");
		if (renameat(dfd, f->name, dfd, good) >= 0) {
			r = sync_dir(ctx, c, dfd);
			if (r < 0)
				return r;
			break;
		}
		if (errno != ENOENT || attempt > 0)
			return swu_fail(ctx, -errno, "boot", "systemd-boot",
					"cannot rename '%s' to '%s' in '%s/EFI/Linux': %s", f->name,
					good, c->esp, strerror(errno));
	}
	return set_default(ctx, c, slot);
}

int swu_sdboot_mark_bad(SwuContext *ctx, const SwuBootConfig *c, char slot, char other)
{
	_cleanup_close_ int dfd = -EBADF;
	int r;

	assert_return(ctx && c, -EINVAL);

	/* Removed, not renamed to "+0": systemd-boot still boots a used-up entry that a pattern or
	 * the menu picks, and systemd-bless-boot would then make it good again. Removed first: a
	 * cut before the default changes leaves a default matching nothing, and systemd-boot falls
	 * back to loader.conf's default, the other slot. The staging file stays: systemd-boot never
	 * sees it, and an install opens it before it takes the slot out of service. */
	r = open_entries(ctx, c, &dfd);
	if (r >= 0)
		r = remove_slot(ctx, c, dfd, slot);
	return r < 0 ? r : set_default(ctx, c, other);
}

int swu_sdboot_get_primary(SwuContext *ctx, const SwuBootConfig *c, char *ret)
{
	_cleanup_free_ char *now = NULL;
	_cleanup_close_ int dfd = -EBADF;
	SlotFiles a, b;
	int r;

	assert_return(ctx && c && ret, -EINVAL);

	/* The slot the default names, whatever its counter: after a fallback it still names the
	 * slot that did not come up, which is how a rollback is told from a switch that never ran. */
	if (swu_sdboot_read_efivar(c->efivars, "LoaderEntryDefault", &now) >= 0)
		for (char s = 'A'; s <= 'B'; s++) {
			_cleanup_free_ char *pattern = NULL;

			r = swu_sdboot_default_pattern(c->entry_stem, s, &pattern);
			if (r < 0)
				return r;
			if (strcasecmp(now, pattern) == 0) {
				*ret = s;
				return 0;
			}
		}
	/* No default of ours (a factory image): the only slot systemd-boot would boot. */
	r = open_entries(ctx, c, &dfd);
	if (r >= 0)
		r = scan(ctx, c, dfd, 'A', &a);
	if (r >= 0)
		r = scan(ctx, c, dfd, 'B', &b);
	if (r < 0)
		return r;
	if (bootable(&a) == bootable(&b))
		return -ENODATA;
	*ret = bootable(&a) ? 'A' : 'B';
	return 0;
}
