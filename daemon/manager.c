/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "fileio.h"
#include "log.h"
#include "time-util.h"
#include "macro.h"
#include "manager.h"
#include "manifest.h"
#include "sdboot.h"
#include "state.h"

static const char *const update_state_table[] = {
	[UPDATE_IDLE] = "idle",
	[UPDATE_PENDING_REBOOT] = "pending-reboot",
	[UPDATE_PENDING_CONFIRMATION] = "pending-confirmation",
};

const char *update_state_to_string(UpdateState s)
{
	return update_state_table[s];
}

static char other_slot(char s)
{
	return s == 'A' ? 'B' : 'A';
}

char manager_target_slot(const Manager *m)
{
	return m->booted ? other_slot(m->booted) : 0;
}

static int read_text(const char *path, size_t max, char **ret)
{
	uint8_t *data = NULL;
	size_t size;
	int r;

	r = swu_read_file(path, max, &data, &size);
	if (r < 0)
		return r;
	data[size] = 0;
	*ret = (char *)data;
	return 0;
}

/* Lifecycle events as structured journal entries, one MESSAGE_ID per action (journalctl -o verbose). */
static const char *message_id(SwuHistoryAction action)
{
	switch (action) {
	case SWU_HISTORY_INSTALL:
		return "5b1c2d0e8f7a4c0b9e3d6a1f2c4b7e90";
	case SWU_HISTORY_MARK_GOOD:
		return "a7e3c91b52d84f0e8c6b1d2e3f4a5b61";
	case SWU_HISTORY_MARK_BAD:
		return "c2d4e6f8a0b24c6e8a0c2e4f6a8b0c12";
	case SWU_HISTORY_ROLLBACK:
		return "e91f3a5c7b9d4e1f8a2c4e6a8c0e2f34";
	case SWU_HISTORY_ROOT_ROTATION:
		return "1f2e3d4c5b6a47988776655443322110";
	case _SWU_HISTORY_ACTION_MAX:
	case _SWU_HISTORY_ACTION_INVALID:
		break;
	}
	return NULL;
}

static void journal_event(const SwuHistoryEntry *e)
{
	const char *id = message_id(e->action), *action = swu_history_action_to_string(e->action),
		   *result = swu_history_result_to_string(e->result);
	char slot[2] = { e->slot, 0 };

	if (!getenv("JOURNAL_STREAM"))
		return; /* not under systemd: the log line on stderr says it */
	if (!id || !action || !result)
		return;
	(void)sd_journal_send("MESSAGE=%s %s: version %u -> %u, slot %s%s%s", action, result,
			      e->from_version, e->to_version, slot[0] ? slot : "-",
			      e->reason && *e->reason ? ": " : "", e->reason ? e->reason : "",
			      "MESSAGE_ID=%s", id, "PRIORITY=%i",
			      e->result == SWU_HISTORY_SUCCESS ? LOG_NOTICE : LOG_WARNING,
			      "SWUPDATED_ACTION=%s", action, "SWUPDATED_RESULT=%s", result,
			      "SWUPDATED_FROM_VERSION=%u", e->from_version, "SWUPDATED_VERSION=%u",
			      e->to_version, "SWUPDATED_SLOT=%s", slot, "SWUPDATED_DOWNLOADED=%llu",
			      (unsigned long long)e->downloaded, NULL);
}

void manager_history(Manager *m, SwuHistoryAction action, uint32_t from, uint32_t to, char slot,
		     SwuHistoryResult result, const char *reason)
{
	manager_history_install(m, action, from, to, slot, result, reason, 0);
}

void manager_history_install(Manager *m, SwuHistoryAction action, uint32_t from, uint32_t to,
			     char slot, SwuHistoryResult result, const char *reason,
			     uint64_t downloaded)
{
	SwuHistoryEntry e = { time(NULL), action, from, to, slot, result, reason, downloaded };
	int r;

	journal_event(&e);
	r = swu_state_append_history(m->ctx, m->config->state_dir, &e);
	if (r < 0)
		log_failure(LOG_WARNING, m->ctx, r, "Cannot record history");
}

static void warn_root(void *userdata, const char *message)
{
	log_warning("%s", message);
}

static void root_committed(void *userdata, uint32_t version)
{
	Manager *m = userdata;
	char reason[64];

	snprintf(reason, sizeof(reason), "Root metadata version %u trusted from now on", version);
	log_info("%s", reason);
	manager_history(m, SWU_HISTORY_ROOT_ROTATION, 0, 0, 0, SWU_HISTORY_SUCCESS, reason);
}

/*
 * systemd-boot says which slot entry it booted (LoaderEntrySelected). Its UKIs may leave the slot
 * off the command line, as one image then serves either slot; when the command line or the root
 * device names a slot too, both must agree: a UKI renamed into the other slot's entry boots the
 * wrong partition's root hash and is refused, not guessed at. The entry fills in the slot only
 * when nothing else named one (@unnamed): a parameter naming no slot, or a root device matching
 * both, stays an error.
 */
static void check_selected_entry(Manager *m, bool unnamed)
{
	SwuBootConfig boot = config_boot(m->config);
	char selected;
	int r;

	if (boot.type != SWU_BOOT_SYSTEMD_BOOT)
		return;
	r = swu_sdboot_selected_slot(m->ctx, &boot, &selected);
	if (r == -EPERM)
		log_failure(LOG_WARNING, m->ctx, r, "Not taking the booted slot from systemd-boot");
	if (r < 0)
		return; /* not booted through a slot's entry */
	if (!m->booted && !unnamed)
		return;
	if (!m->booted) {
		m->booted = selected;
		m->booted_error[0] = 0;
	} else if (m->booted != selected) {
		snprintf(m->booted_error, sizeof(m->booted_error),
			 "cannot tell the booted slot: systemd-boot booted the entry of slot %c "
			 "(LoaderEntrySelected), but the kernel command line or the root device is "
			 "slot %c",
			 selected, m->booted);
		m->booted = 0;
	}
}

/* The machine ID, for the rollout draw: without one, rollouts still work, only coarser. */
static void read_machine_id(Manager *m)
{
	_cleanup_free_ char *id = NULL;
	int r;

	r = read_text(m->config->machine_id_file, 256, &id);
	if (r >= 0) {
		id[strcspn(id, "\n")] = 0;
		if (*id && strlen(id) < sizeof(m->machine_id)) {
			strcpy(m->machine_id, id);
			return;
		}
		r = -EINVAL;
	}
	log_warning_errno(r,
			  "Cannot read a machine ID from '%s': in staged rollouts, this device "
			  "draws like every other device without one",
			  m->config->machine_id_file);
}

/* The names of [Channels], for a refusal: "stable, beta", or "none". */
static void channel_names(const Config *c, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < c->n_channels && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
				      c->channels[i].name);
	if (c->n_channels == 0)
		snprintf(buf, size, "none");
}

static int use_channel(Manager *m, const char *name)
{
	const ConfigChannel *ch = *name ? config_find_channel(m->config, name) : NULL;
	char *server = NULL;

	if (ch || m->default_server) {
		server = strdup(ch ? ch->url : m->default_server);
		if (!server)
			return -ENOMEM;
	}
	free(m->config->server);
	m->config->server = server;
	snprintf(m->channel, sizeof(m->channel), "%s", ch ? ch->name : "");
	return 0;
}

int manager_set_channel(Manager *m, SwuContext *ctx, const char *name)
{
	char names[256];
	int r;

	assert_return(m && ctx && name, -EINVAL);

	if (*name && !config_find_channel(m->config, name)) {
		channel_names(m->config, names, sizeof(names));
		return swu_fail(ctx, -EINVAL, "channel", "name",
				"'%s' is not one of this device's channels (%s: [Channels] in %s)",
				name, names, m->config->path);
	}
	r = swu_state_save_channel(ctx, m->config->state_dir, name);
	/* Each channel's online signer counts its own timestamp versions: the last channel's
	 * floor would refuse this one's until it caught up. Expiry still bounds a freeze. */
	if (r >= 0)
		r = swu_state_reset_timestamp_version(ctx, m->config->state_dir, 0);
	if (r < 0)
		return r;
	return use_channel(m, name);
}

/* The channel chosen before, while the configuration still lists it (an update may drop one). */
static int restore_channel(Manager *m)
{
	char name[CHANNEL_NAME_MAX + 2];
	int r;

	if (m->config->server) {
		m->default_server = strdup(m->config->server);
		if (!m->default_server)
			return -ENOMEM;
	}
	r = swu_state_load_channel(m->ctx, m->config->state_dir, name, sizeof(name));
	if (r < 0 || !*name)
		return r < 0 ? r : 0;
	if (!config_find_channel(m->config, name)) {
		log_warning("The channel '%s' chosen before is not in [Channels] of '%s' any more: "
			    "polling Server=",
			    name, m->config->path);
		return 0;
	}
	return use_channel(m, name);
}

int manager_new(Config *config, Manager **ret)
{
	_cleanup_free_ char *cmdline = NULL, *boot_id = NULL;
	_cleanup_free_ SwuSlot *slots = NULL;
	struct stat root;
	Manager *m;
	int r;

	assert_return(config && ret, -EINVAL);
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->config = config;
	r = swu_context_new(&m->ctx);
	if (r < 0) {
		manager_free(m);
		return r;
	}
	m->device = (SwuDevice){
		.root_metadata = config->root_metadata,
		.factory_manifest = config->factory_manifest,
		.require_verity = config->require_verity,
		.state_dir = config->state_dir,
		.compatible = config->compatible,
		.warn = warn_root,
		.committed = root_committed,
		.userdata = m,
	};

	r = read_text(config->boot_id_file, 256, &boot_id);
	if (r < 0) {
		log_error_errno(r, "Cannot read the boot ID from '%s'", config->boot_id_file);
		manager_free(m);
		return r;
	}
	boot_id[strcspn(boot_id, "\n")] = 0;
	/* Compared with the pending install's to tell a reboot: a cut one could match another. */
	if (strlen(boot_id) >= sizeof(m->boot_id)) {
		log_error("The boot ID in '%s' is longer than %zu bytes", config->boot_id_file,
			  sizeof(m->boot_id) - 1);
		manager_free(m);
		return -ENAMETOOLONG;
	}
	strcpy(m->boot_id, boot_id);
	read_machine_id(m);
	r = restore_channel(m);
	if (r == -ENOMEM) {
		manager_free(m);
		return r;
	}
	if (r < 0) /* never a reason to stop: the device still polls, confirms and reports */
		log_warning_errno(r, "Cannot read the channel chosen before: polling Server=");

	r = read_text(config->kernel_cmdline, 64 * 1024, &cmdline);
	if (r < 0)
		log_warning_errno(r, "Cannot read the kernel command line '%s'",
				  config->kernel_cmdline);
	slots = calloc(config->n_slots + 1, sizeof(*slots));
	if (!slots) {
		manager_free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < config->n_slots; i++)
		slots[i] = (SwuSlot){ config->slots[i].target, config->slots[i].name,
				      config->slots[i].device };
	r = stat("/", &root);
	swu_root_devices(m->device.sysfs, r == 0 ? root.st_dev : 0, &m->root);
	r = swu_slot_booted(m->ctx, cmdline, config->slot_parameter, &m->root, slots,
			    config->n_slots, &m->booted);
	if (r < 0) {
		m->booted = 0;
		snprintf(m->booted_error, sizeof(m->booted_error), "%s",
			 swu_context_get_failure(m->ctx)->message);
	}
	check_selected_entry(m, /* unnamed= */ r == -ENODATA);
	swu_context_clear_failure(m->ctx);
	*ret = m;
	return 0;
}

static time_t wall_seconds(void *userdata)
{
	return (time_t)(clock_now(userdata, CLOCK_REALTIME) / USEC_PER_SEC);
}

void manager_set_clock(Manager *m, Clock *clock)
{
	swu_context_set_clock(m->ctx, clock ? wall_seconds : NULL, clock);
}

int manager_context_new(Manager *m, SwuContext **ret)
{
	assert_return(m && ret, -EINVAL);
	return swu_context_new_like(m->ctx, ret);
}

Manager *manager_free(Manager *m)
{
	if (!m)
		return NULL;
	config_free(m->config);
	free(m->default_server);
	swu_context_unref(m->ctx);
	free(m);
	return NULL;
}

static int load_pending(Manager *m, SwuContext *ctx, SwuPending *ret)
{
	int r = swu_state_load_pending(ctx, m->config->state_dir, ret);

	if (r == -EBADMSG) {
		/* A torn or damaged record cannot be trusted to name a slot: drop it. */
		log_failure(LOG_WARNING, ctx, r, "Ignoring the pending install record");
		(void)swu_state_clear_pending(ctx, m->config->state_dir);
		return -ENOENT;
	}
	return r;
}

static UpdateState state_of(const Manager *m, const SwuPending *p)
{
	if (streq(p->boot_id, m->boot_id))
		return UPDATE_PENDING_REBOOT;
	return m->booted == p->slot ? UPDATE_PENDING_CONFIRMATION : UPDATE_IDLE;
}

/* The release that did not boot is never installed again by itself (boot loops). */
static void remember_rollback(Manager *m, SwuContext *ctx, const SwuPending *p)
{
	SwuRollback rb = { .version = p->version, .time = time(NULL) };
	int r;

	r = swu_manifest_targets_sha256(ctx, p->manifest, p->manifest_size, rb.targets_sha256);
	if (r >= 0)
		r = swu_state_save_rollback(ctx, m->config->state_dir, &rb);
	if (r < 0)
		log_failure(LOG_WARNING, ctx, r, "Cannot remember the rolled-back release");
}

bool manager_rolled_back(Manager *m, SwuContext *ctx, uint32_t version,
			 const uint8_t targets_sha256[SWU_SHA256_SIZE])
{
	SwuRollback rb;
	int r;

	r = swu_state_load_rollback(ctx, m->config->state_dir, &rb);
	if (r < 0) {
		/* Damaged: the release that failed to boot is not recognised, so it may be tried
		 * again (the boot loader falls back again); said, not silent. */
		if (r != -ENOENT)
			log_failure(LOG_WARNING, ctx, r, "Cannot read the rolled-back release");
		return false;
	}
	return rb.version == version &&
	       memcmp(rb.targets_sha256, targets_sha256, SWU_SHA256_SIZE) == 0;
}

/*
 * A pending record after a reboot into the old slot: a rollback, unless the bootloader still puts
 * the booted slot first, which only happens when the switch never ran (the boot scripts never
 * change the order when they fall back). Without a readable order: a rollback, to be safe.
 */
static bool switch_interrupted(Manager *m, SwuContext *ctx, const SwuBootConfig *boot)
{
	char primary;

	return swu_boot_get_primary(ctx, boot, &primary) >= 0 && primary == m->booted;
}

/*
 * systemd-boot boots another entry than the default when told once (LoaderEntryOneShot, bootctl
 * set-oneshot) or from its menu. Then the default still names the new slot, whose entry was never
 * tried ("+N", nothing done): the switch stands and the slot is tried at the next boot, no
 * rollback. A fallback has used its tries up ("+0-N"), or systemd-bless-boot marked it bad, or it
 * is gone.
 */
static bool switch_untried(Manager *m, SwuContext *ctx, const SwuBootConfig *boot, char slot)
{
	SwuSdbootEntry e;
	char primary;

	return boot->type == SWU_BOOT_SYSTEMD_BOOT &&
	       swu_boot_get_primary(ctx, boot, &primary) >= 0 && primary == slot &&
	       swu_sdboot_get_entry(ctx, boot, slot, &e) >= 0 && e.tries_left > 0 &&
	       e.tries_done == 0;
}

int manager_reconcile(Manager *m, SwuContext *ctx, Reconciled *ret)
{
	Reconciled done = { RECONCILED_NOTHING };
	SwuBootConfig boot;
	SwuPending p = {};
	int r;

	assert_return(m && ctx, -EINVAL);
	boot = config_boot(m->config);
	if (ret)
		*ret = done;
	r = load_pending(m, ctx, &p);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (m->booted && state_of(m, &p) == UPDATE_IDLE && switch_untried(m, ctx, &boot, p.slot)) {
		log_info("Slot %c booted instead of the default, slot %c, which is not tried yet: "
			 "the install of version %u waits for the next boot",
			 m->booted, p.slot, p.version);
		r = 0;
	} else if (m->booted && state_of(m, &p) == UPDATE_IDLE &&
		   switch_interrupted(m, ctx, &boot)) {
		/* The record is written just before the switch: a power cut came in between. */
		log_warning("The install of version %u into slot %c was interrupted before the "
			    "bootloader switch; dropping it",
			    p.version, p.slot);
		manager_history(m, SWU_HISTORY_INSTALL, p.from_version, p.version, p.slot,
				SWU_HISTORY_INTERRUPTED,
				"Interrupted before the bootloader switch; slot not tried");
		done = (Reconciled){ RECONCILED_INTERRUPTED, p.slot, p.version };
		r = swu_state_clear_pending(ctx, m->config->state_dir);
	} else if (m->booted && state_of(m, &p) == UPDATE_IDLE) {
		/* Rebooted, but not into the new slot: the bootloader fell back. */
		log_warning("Rollback: slot %c (version %u) did not boot, running slot %c", p.slot,
			    p.version, m->booted);
		manager_history(m, SWU_HISTORY_ROLLBACK, p.from_version, p.version, p.slot,
				SWU_HISTORY_ROLLED_BACK,
				"The new slot did not boot; the bootloader fell back");
		remember_rollback(m, ctx, &p);
		/* Keep the bootloader from trying the failed slot again. */
		r = swu_boot_mark_bad(ctx, &boot, p.slot, m->booted);
		if (r < 0)
			log_failure(LOG_WARNING, ctx, r, "Cannot mark slot %c bad", p.slot);
		done = (Reconciled){ RECONCILED_ROLLBACK, p.slot, p.version };
		r = swu_state_clear_pending(ctx, m->config->state_dir);
	}
	swu_pending_done(&p);
	if (r >= 0 && ret)
		*ret = done;
	return r;
}

/* Reads through a context of its own: the caller's may hold the failure it is about to report. */
/*
 * The installed version, 0 when nothing is installed; when it cannot be told (RequireVerity= and
 * no dm-verity under the root metadata, a damaged manifest), 0 with the reason in @why (optional).
 */
static uint32_t installed_version_why(Manager *m, char *why, size_t why_size)
{
	_cleanup_(swu_context_unrefp) SwuContext *ctx = NULL;
	_cleanup_(swu_manifest_freep) SwuManifest *manifest = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	const SwuTargetsMetadata *t;
	size_t size;
	int r;

	if (why)
		why[0] = 0;
	r = swu_context_new_like(m->ctx, &ctx);
	if (r >= 0)
		r = swu_device_manifest(ctx, &m->device, &data, &size);
	if (r >= 0)
		r = swu_manifest_decode(ctx, data, size, &manifest);
	if (r < 0) {
		/* Nothing installed yet is no failure (a device without a factory manifest). */
		if (r != -ENOENT && why)
			snprintf(why, why_size, "%s", log_reason(ctx, r));
		return 0;
	}
	t = swu_manifest_get_targets(manifest);
	return t && t->common_metadata ? t->common_metadata->version : 0;
}

static uint32_t installed_version(Manager *m)
{
	return installed_version_why(m, NULL, 0);
}

int manager_get_status(Manager *m, SwuContext *ctx, Status *ret)
{
	SwuPending p = {};
	Status s = {};
	int r;

	assert_return(m && ctx && ret, -EINVAL);
	s.booted_slot = m->booted;

	s.installed_version =
		installed_version_why(m, s.installed_error, sizeof(s.installed_error));
	r = load_pending(m, ctx, &p);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0) {
		s.state = state_of(m, &p);
		if (s.state != UPDATE_IDLE) {
			s.pending_slot = p.slot;
			s.pending_version = p.version;
		}
		swu_pending_done(&p);
	}
	*ret = s;
	return 0;
}

void slots_done(Slots *s)
{
	for (size_t i = 0; i < s->n; i++) {
		safe_close(s->targets[i].fd);
		safe_close(s->targets[i].active_fd);
	}
	free(s->targets);
	*s = (Slots){};
}

/*
 * Before the first byte is written into the inactive slot, it stops being a fallback: a power
 * cut in the middle of the write followed by a failed boot of the active slot must not boot a
 * half-written image. It becomes bootable again only through the switch after everything
 * verified. An install still waiting for its reboot into that slot is superseded.
 */
static int retire_target_slot(Manager *m, SwuContext *ctx)
{
	SwuBootConfig boot = config_boot(m->config);
	SwuPending p = {};
	int r;

	/* The bootloader first: a slot it may boot always has its pending record. */
	swu_fault_point(ctx, "bootloader");
	r = swu_boot_mark_bad(ctx, &boot, manager_target_slot(m), m->booted);
	if (r < 0)
		return swu_fail_wrap(ctx, r, "boot", "switch",
				     "cannot take slot %c out of the boot order before writing it",
				     manager_target_slot(m));
	r = load_pending(m, ctx, &p);
	if (r >= 0) {
		log_info("The install of version %u into slot %c is superseded", p.version, p.slot);
		swu_pending_done(&p);
		r = swu_state_clear_pending(ctx, m->config->state_dir);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The switch to systemd-boot's slot renames the new UKI of the BootEntry= target into place: a
 * release without that target would have no new image to switch to. What an interrupted install
 * left staged goes first, whatever the release: the switch must only find what this one wrote.
 */
static int check_boot_entry(Manager *m, SwuContext *ctx, const SwuTarget *list, size_t n)
{
	SwuBootConfig boot = config_boot(m->config);
	char slot = manager_target_slot(m);

	for (size_t i = 0; i < m->config->n_slots; i++) {
		const ConfigSlot *s = &m->config->slots[i];
		bool found = false;
		int r;

		if (!s->boot_entry || s->name != slot)
			continue;
		r = swu_sdboot_discard_new(ctx, &boot, slot);
		if (r < 0)
			return r;
		for (size_t j = 0; j < n && !found; j++)
			found = streq(list[j].name, s->target);
		if (!found)
			return swu_fail(ctx, -ENXIO, "slot", "missing",
					"the release has no target '%s', the UKI of slot %c's boot "
					"entry (BootEntry=yes)",
					s->target, slot);
	}
	return 0;
}

int manager_open_slots(Manager *m, SwuContext *ctx, SwuVerifier *v, const SwuBundle *b, Slots *ret)
{
	SwuBootConfig boot = config_boot(m->config);
	const SwuTarget *list;
	Slots slots = {};
	struct stat st;
	size_t n;
	int r;

	assert_return(m && ctx && v && ret, -EINVAL);
	n = swu_verifier_get_targets(v, &list);
	r = check_boot_entry(m, ctx, list, n);
	if (r < 0)
		return r;

	slots.targets = calloc(n + 1, sizeof(*slots.targets));
	if (!slots.targets)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const ConfigSlot *to =
			config_find_slot(m->config, list[i].name, other_slot(m->booted));
		const ConfigSlot *from = config_find_slot(m->config, list[i].name, m->booted);
		SwuInstallTarget *t = &slots.targets[slots.n];
		uint64_t active_size;

		*t = (SwuInstallTarget){ list[i].name, -EBADF, 0, -EBADF, false };
		slots.n++;
		if (!to && !from && !swu_target_needs_slot(list[i].name))
			continue; /* verified, and kept nowhere but in the manifest */
		if (!to || !from) {
			slots_done(&slots);
			return swu_fail(ctx, -ENXIO, "slot", "missing",
					"target '%s' has no slot on this device", list[i].name);
		}
		r = to->boot_entry ? swu_sdboot_open_new(ctx, &boot, to->name, &t->fd, &t->size)
				   : swu_slot_open_inactive(ctx, to->device, from->device, &m->root,
							    &t->fd, &t->size);
		if (r < 0) {
			slots_done(&slots);
			return r;
		}
		t->block_device = fstat(t->fd, &st) == 0 && S_ISBLK(st.st_mode);
		if (from->boot_entry)
			(void)swu_sdboot_open_active(ctx, &boot, from->name, &t->active_fd,
						     &active_size);
		else
			(void)swu_slot_open_active(ctx, from->device, &t->active_fd, &active_size);
	}
	r = swu_install_check(ctx, v, b, slots.targets, slots.n);
	if (r >= 0)
		r = retire_target_slot(m, ctx);
	if (r < 0) {
		slots_done(&slots);
		return r;
	}
	*ret = slots;
	return 0;
}

int manager_apply(Manager *m, SwuContext *ctx, SwuVerifier *v)
{
	_cleanup_free_ uint8_t *manifest = NULL;
	SwuBootConfig boot;
	const Config *c;
	SwuPending p;
	size_t size;
	int r;

	assert_return(m && ctx && v, -EINVAL);
	c = m->config;
	boot = config_boot(c);

	/* Every target is written and read back: record the pending install, then switch. */
	r = swu_verifier_build_manifest(v, &manifest, &size);
	if (r < 0)
		return r;
	p = (SwuPending){ .slot = other_slot(m->booted),
			  .from_slot = m->booted,
			  .version = swu_verifier_get_version(v),
			  .from_version = swu_verifier_get_installed_version(v),
			  .time = time(NULL),
			  .manifest = manifest,
			  .manifest_size = size };
	snprintf(p.boot_id, sizeof(p.boot_id), "%s", m->boot_id);
	r = swu_state_save_pending(ctx, c->state_dir, &p);
	if (r < 0)
		return r;
	swu_fault_point(ctx, "bootloader");
	r = swu_boot_try(ctx, &boot, p.slot, m->booted);
	if (r < 0) {
		r = swu_fail_wrap(ctx, r, "boot", "switch",
				  "cannot switch the bootloader to slot %c", p.slot);
		(void)swu_state_clear_pending(ctx, c->state_dir);
		return r;
	}
	return 0;
}

/* Refuses to install when the booted slot is unknown or an update awaits confirmation. */
int manager_may_install(Manager *m, SwuContext *ctx)
{
	Status s;
	int r;

	assert_return(m && ctx, -EINVAL);
	if (!m->booted)
		return swu_fail(ctx, -ENXIO, "slot", "booted", "%s", m->booted_error);
	r = manager_get_status(m, ctx, &s);
	if (r < 0)
		return r;
	if (s.state == UPDATE_PENDING_CONFIRMATION)
		return swu_fail(ctx, -EBUSY, "update", "pending",
				"slot %c runs an update that is not confirmed yet (mark-good or "
				"mark-bad first)",
				m->booted);
	return 0;
}

static int install_file(Manager *m, SwuContext *ctx, const char *path, SwuVerifier **ret)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_(swu_bundle_freep) SwuBundle *b = NULL;
	_cleanup_close_ int fd = -EBADF;
	Slots slots = {};
	int r;

	r = manager_may_install(m, ctx);
	if (r < 0)
		return r;
	r = swu_device_verifier(ctx, &m->device, &v);
	if (r < 0)
		return r;
	r = swu_bundle_open_path(ctx, path, &fd, &b);
	if (r >= 0)
		r = swu_device_check_metadata(ctx, &m->device, v, b);
	if (r >= 0)
		r = manager_open_slots(m, ctx, v, b, &slots);
	if (r < 0) {
		*ret = TAKE_PTR(v);
		return r;
	}
	log_info("Installing version %u from '%s' into slot %c", swu_verifier_get_version(v), path,
		 manager_target_slot(m));
	r = swu_install_bundle(ctx, b, v, slots.targets, slots.n);
	slots_done(&slots);
	if (r >= 0)
		r = manager_apply(m, ctx, v);
	*ret = TAKE_PTR(v);
	return r;
}

int manager_install(Manager *m, const char *path)
{
	_cleanup_(swu_verifier_freep) SwuVerifier *v = NULL;
	_cleanup_free_ char *note = NULL;
	uint32_t from, to;
	SwuContext *ctx;
	int r;

	assert_return(m && path, -EINVAL);
	ctx = m->ctx;

	swu_context_clear_failure(ctx);
	r = manager_reconcile(m, ctx, NULL);
	if (r >= 0)
		r = install_file(m, ctx, path, &v);
	from = v ? swu_verifier_get_installed_version(v) : installed_version(m);
	to = v ? swu_verifier_get_version(v) : 0;
	if (r < 0) {
		if (asprintf(&note, "Installing '%s' failed: %s", path, log_reason(ctx, r)) < 0)
			note = NULL;
		log_error("%s", note ?: "Installing failed: out of memory");
		manager_history(m, SWU_HISTORY_INSTALL, from, to, manager_target_slot(m),
				SWU_HISTORY_FAILED, note);
		return r;
	}
	if (asprintf(&note, "Version %u installed into slot %c; reboot to try it", to,
		     manager_target_slot(m)) < 0)
		note = NULL;
	log_info("%s", note ?: "Installed");
	manager_history(m, SWU_HISTORY_INSTALL, from, to, manager_target_slot(m),
			SWU_HISTORY_SUCCESS, note);
	return 0;
}

/* After reconciling: the pending install, -ENOENT when none. */
static int current_pending(Manager *m, SwuContext *ctx, SwuPending *ret)
{
	int r;

	r = manager_reconcile(m, ctx, NULL);
	if (r < 0)
		return r;
	return load_pending(m, ctx, ret);
}

/*
 * MarkGood with nothing pending: health checks run it on every boot to reset the counter. Only
 * for the slot the bootloader boots first: another one booted as the fallback (the primary did
 * not come up), and may be one swupdated took out of service that a boot script revived; making
 * it primary would keep it.
 */
static int confirm_booted(Manager *m, SwuContext *ctx, char *note, size_t note_size)
{
	SwuBootConfig boot = config_boot(m->config);
	char primary = 0;
	int r;

	if (!m->booted) {
		snprintf(note, note_size, "No update pending");
		return 0;
	}
	if (boot.type != SWU_BOOT_NONE) {
		r = swu_boot_get_primary(ctx, &boot, &primary);
		if (r < 0)
			return swu_fail_wrap(ctx, r, "boot", "primary",
					     "nothing pending, and the slot the bootloader boots "
					     "first cannot be read; slot %c not marked good",
					     m->booted);
		if (primary != m->booted)
			return swu_fail(ctx, -EAGAIN, "boot", "primary",
					"nothing to confirm: no update is pending, and slot %c "
					"booted, but the bootloader boots slot %c first "
					"(slot %c is only the fallback)",
					m->booted, primary, m->booted);
	}
	swu_fault_point(ctx, "bootloader");
	r = swu_boot_mark_good(ctx, &boot, m->booted, other_slot(m->booted));
	if (r < 0)
		return swu_fail_wrap(ctx, r, "boot", "switch", "cannot mark slot %c good",
				     m->booted);
	snprintf(note, note_size, "No update pending; slot %c marked good", m->booted);
	log_info("%s", note);
	return 0;
}

static int mark_pending(Manager *m, SwuContext *ctx, const SwuPending *p, bool good, char *note,
			size_t note_size)
{
	SwuBootConfig boot = config_boot(m->config);
	int r;

	if (good) {
		/* Commit: the new manifest becomes the anti-rollback floor, then the bootloader. */
		r = swu_state_save_manifest(ctx, m->config->state_dir, p->manifest,
					    p->manifest_size);
		if (r < 0)
			return r;
		swu_fault_point(ctx, "bootloader");
		r = swu_boot_mark_good(ctx, &boot, p->slot, other_slot(p->slot));
	} else {
		/* Rejected (a failed health check): never installed again by itself. */
		remember_rollback(m, ctx, p);
		swu_fault_point(ctx, "bootloader");
		r = swu_boot_mark_bad(ctx, &boot, p->slot, p->from_slot);
	}
	if (r < 0)
		return swu_fail_wrap(ctx, r, "boot", "switch", "cannot mark slot %c %s", p->slot,
				     good ? "good" : "bad");
	r = swu_state_clear_pending(ctx, m->config->state_dir);
	if (r < 0)
		return r;
	if (good)
		snprintf(note, note_size, "Slot %c (version %u) marked good", p->slot, p->version);
	else
		snprintf(note, note_size, "Slot %c (version %u) marked bad; slot %c boots next",
			 p->slot, p->version, p->from_slot);
	log_info("%s", note);
	manager_history(m, good ? SWU_HISTORY_MARK_GOOD : SWU_HISTORY_MARK_BAD, p->from_version,
			p->version, p->slot, good ? SWU_HISTORY_SUCCESS : SWU_HISTORY_REJECTED,
			note);
	return 0;
}

int manager_mark(Manager *m, SwuContext *ctx, bool good, char *ret_note, size_t note_size)
{
	char buf[128];
	char *note = ret_note ?: buf;
	size_t size = ret_note ? note_size : sizeof(buf);
	SwuPending p = {};
	int r;

	assert_return(m && ctx && (!ret_note || note_size > 0), -EINVAL);

	r = current_pending(m, ctx, &p);
	if (r == -ENOENT && good)
		return confirm_booted(m, ctx, note, size);
	if (r == -ENOENT)
		return swu_fail(ctx, -EAGAIN, "update", "pending",
				"nothing to reject: no update is pending");
	if (r < 0)
		return r;
	if (good && state_of(m, &p) != UPDATE_PENDING_CONFIRMATION)
		r = swu_fail(ctx, -EAGAIN, "update", "pending",
			     "nothing to confirm yet: slot %c is installed but not booted yet "
			     "(reboot first)",
			     p.slot);
	else
		r = mark_pending(m, ctx, &p, good, note, size);
	swu_pending_done(&p);
	return r;
}
