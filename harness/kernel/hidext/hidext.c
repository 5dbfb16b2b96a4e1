/*
 * hidext: an LD_PRELOAD library that makes iptables behave as on a kernel
 * that lacks some netfilter extensions (xt_* matches and targets).
 *
 * LAB_HIDE_EXTENSIONS="ipv6:target:MARK,ipv4:match:recent" names the hidden
 * extensions by family (ipv4|ipv6), kind (match|target) and kernel name.
 * Unset or empty, every call passes straight through to libc.
 *
 * Legacy (ip_tables / ip6_tables sockopts):
 *   getsockopt IPT_SO_GET_REVISION_{MATCH,TARGET} / IP6T_...  -> -1 ENOENT,
 *     as the kernel answers for an unknown extension, so libxtables prints
 *     "Warning: Extension X revision 0 not supported, missing kernel module?";
 *   setsockopt IPT_SO_SET_REPLACE / IP6T_SO_SET_REPLACE whose entries use a
 *     hidden match or target -> -1 ENOENT without touching the kernel, as
 *     translate_table() fails when xt_request_find_{match,target} fails.
 * nf_tables compat (iptables-nft): in netlink messages sent on
 *   NETLINK_NETFILTER sockets, the name of a hidden extension in
 *   NFNL_MSG_COMPAT_GET requests and in the "match"/"target" expressions of
 *   NFT_MSG_NEWRULE is rewritten in a copy to a name no kernel knows, so the
 *   real kernel answers ENOENT itself, with the right sequence numbers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

/* Bind dlsym to its oldest version so the library built on a newer glibc
 * (2.34+ moved dlsym into libc as GLIBC_2.34) also loads in node images
 * with an older one (Debian bullseye: glibc 2.31, dlsym in libdl). */
#if defined(__GLIBC__) && defined(__x86_64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
#endif

enum { K_MATCH = 0, K_TARGET = 1 };
#define MAXHIDE 64

struct hidden {
	int family; /* NFPROTO_IPV4 or NFPROTO_IPV6 */
	int kind;
	char name[XT_EXTENSION_MAXNAMELEN];
};

static struct hidden hide[MAXHIDE];
static int nhide = -1; /* -1: not parsed yet */

static void parse_env(void)
{
	const char *v = getenv("LAB_HIDE_EXTENSIONS");
	char buf[4096], *save = NULL, *tok;
	int n = 0;

	if (v == NULL || *v == '\0' || strlen(v) >= sizeof(buf)) {
		nhide = 0;
		return;
	}
	strcpy(buf, v);
	for (tok = strtok_r(buf, ", ", &save); tok && n < MAXHIDE;
	     tok = strtok_r(NULL, ", ", &save)) {
		char *fam = tok, *kind = strchr(fam, ':'), *name;
		if (kind == NULL || (name = strchr(kind + 1, ':')) == NULL)
			continue;
		*kind++ = '\0';
		*name++ = '\0';
		if (strcmp(fam, "ipv4") == 0)
			hide[n].family = NFPROTO_IPV4;
		else if (strcmp(fam, "ipv6") == 0)
			hide[n].family = NFPROTO_IPV6;
		else
			continue;
		if (strcmp(kind, "match") == 0)
			hide[n].kind = K_MATCH;
		else if (strcmp(kind, "target") == 0)
			hide[n].kind = K_TARGET;
		else
			continue;
		if (*name == '\0' || strlen(name) >= XT_EXTENSION_MAXNAMELEN)
			continue;
		strcpy(hide[n].name, name);
		n++;
	}
	nhide = n;
}

static int active(void)
{
	if (nhide < 0)
		parse_env();
	return nhide > 0;
}

/* is_hidden compares at most max bytes of name (which may lack a NUL). */
static int is_hidden(int family, int kind, const char *name, size_t max)
{
	char n[XT_EXTENSION_MAXNAMELEN];
	size_t l = strnlen(name, max < sizeof(n) - 1 ? max : sizeof(n) - 1);
	int i;

	memcpy(n, name, l);
	n[l] = '\0';
	for (i = 0; i < nhide; i++)
		if (hide[i].family == family && hide[i].kind == kind &&
		    strcmp(hide[i].name, n) == 0)
			return 1;
	return 0;
}

/*
 * Bind dlsym at its oldest version: glibc 2.34 moved it into libc as
 * dlsym@GLIBC_2.34, which older glibcs (bullseye's 2.31, whose node image
 * the docker provider boots) do not have; GLIBC_2.2.5 exists in both (in
 * libdl before 2.34, which the library therefore links too).
 */
#if defined(__x86_64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
#endif

#define REAL(fn) \
	static __typeof__(fn) *real_##fn; \
	if (real_##fn == NULL) \
		real_##fn = (__typeof__(fn) *)dlsym(RTLD_NEXT, #fn)

int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	REAL(getsockopt);
	if (active() && val != NULL && len != NULL &&
	    *len >= (socklen_t)sizeof(struct xt_get_revision)) {
		const struct xt_get_revision *r = val;
		int fam = -1, kind = -1;
		if (level == SOL_IP && opt == IPT_SO_GET_REVISION_MATCH)
			fam = NFPROTO_IPV4, kind = K_MATCH;
		else if (level == SOL_IP && opt == IPT_SO_GET_REVISION_TARGET)
			fam = NFPROTO_IPV4, kind = K_TARGET;
		else if (level == SOL_IPV6 && opt == IP6T_SO_GET_REVISION_MATCH)
			fam = NFPROTO_IPV6, kind = K_MATCH;
		else if (level == SOL_IPV6 && opt == IP6T_SO_GET_REVISION_TARGET)
			fam = NFPROTO_IPV6, kind = K_TARGET;
		if (fam >= 0 && is_hidden(fam, kind, r->name, sizeof(r->name))) {
			errno = ENOENT;
			return -1;
		}
	}
	return real_getsockopt(fd, level, opt, val, len);
}

/*
 * uses_hidden walks size bytes of ipt_entry/ip6t_entry records at p (fixed
 * part esz bytes, target_offset field at toff, next_offset right after it)
 * and reports whether any match or target is hidden for family.
 */
static int uses_hidden(int family, const unsigned char *p, size_t size,
		       size_t esz, size_t toff)
{
	size_t off = 0;

	while (off + esz <= size) {
		__u16 to, next;
		size_t m;
		memcpy(&to, p + off + toff, sizeof(to));
		memcpy(&next, p + off + toff + sizeof(to), sizeof(next));
		if (next < esz || off + next > size || to < esz ||
		    to + sizeof(struct xt_entry_target) > next)
			return 0; /* malformed: let the kernel judge it */
		for (m = esz; m + sizeof(struct xt_entry_match) <= to;) {
			const struct xt_entry_match *em =
				(const void *)(p + off + m);
			if (is_hidden(family, K_MATCH, em->u.user.name,
				      sizeof(em->u.user.name)))
				return 1;
			if (em->u.match_size < sizeof(*em))
				return 0;
			m += em->u.match_size;
		}
		{
			const struct xt_entry_target *et =
				(const void *)(p + off + to);
			if (is_hidden(family, K_TARGET, et->u.user.name,
				      sizeof(et->u.user.name)))
				return 1;
		}
		off += next;
	}
	return 0;
}

int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	REAL(setsockopt);
	if (active() && val != NULL) {
		const unsigned char *p = val;
		int hit = 0;
		if (level == SOL_IP && opt == IPT_SO_SET_REPLACE &&
		    len >= sizeof(struct ipt_replace)) {
			const struct ipt_replace *r = val;
			size_t n = len - sizeof(*r);
			hit = uses_hidden(NFPROTO_IPV4, p + sizeof(*r),
					  r->size < n ? r->size : n,
					  sizeof(struct ipt_entry),
					  offsetof(struct ipt_entry, target_offset));
		} else if (level == SOL_IPV6 && opt == IP6T_SO_SET_REPLACE &&
			   len >= sizeof(struct ip6t_replace)) {
			const struct ip6t_replace *r = val;
			size_t n = len - sizeof(*r);
			hit = uses_hidden(NFPROTO_IPV6, p + sizeof(*r),
					  r->size < n ? r->size : n,
					  sizeof(struct ip6t_entry),
					  offsetof(struct ip6t_entry, target_offset));
		}
		if (hit) {
			errno = ENOENT;
			return -1;
		}
	}
	return real_setsockopt(fd, level, opt, val, len);
}

/* ---- nf_tables compat (iptables-nft) ---- */

#define NLA_OK_AT(p, off, end) ((off) + NLA_HDRLEN <= (end) && \
	((const struct nlattr *)((p) + (off)))->nla_len >= NLA_HDRLEN && \
	(off) + ((const struct nlattr *)((p) + (off)))->nla_len <= (end))
#define NLA_TYPE(a) ((a)->nla_type & NLA_TYPE_MASK)

/* find returns the offset of attribute type in [off, end), or 0. */
static size_t find(const unsigned char *p, size_t off, size_t end, int type)
{
	while (NLA_OK_AT(p, off, end)) {
		const struct nlattr *a = (const void *)(p + off);
		if (NLA_TYPE(a) == type)
			return off;
		off += NLA_ALIGN(a->nla_len);
	}
	return 0;
}

/* hide_name checks the string attribute at off and, when write is set,
 * replaces the name by one that no kernel knows. Returns 1 on a hit. */
static int hide_name(unsigned char *p, size_t off, int fam, int kind, int write)
{
	struct nlattr *a = (void *)(p + off);
	char *s = (char *)(a + 1);
	size_t n = a->nla_len - NLA_HDRLEN, l;

	if (!is_hidden(fam, kind, s, n))
		return 0;
	if (write)
		for (l = 0; l < n && s[l] != '\0'; l++)
			s[l] = '~';
	return 1;
}

/* rule_exprs handles the NFTA_RULE_EXPRESSIONS list of a NEWRULE message. */
static int rule_exprs(unsigned char *p, size_t off, size_t end, int fam, int write)
{
	int hits = 0;

	while (NLA_OK_AT(p, off, end)) {
		struct nlattr *el = (void *)(p + off);
		size_t b = off + NLA_HDRLEN, e = off + el->nla_len, n, d, x;
		off += NLA_ALIGN(el->nla_len);
		if (NLA_TYPE(el) != NFTA_LIST_ELEM ||
		    !(n = find(p, b, e, NFTA_EXPR_NAME)) ||
		    !(d = find(p, b, e, NFTA_EXPR_DATA)))
			continue;
		const char *en = (const char *)(p + n + NLA_HDRLEN);
		size_t enl = ((struct nlattr *)(p + n))->nla_len - NLA_HDRLEN;
		size_t de = d + ((struct nlattr *)(p + d))->nla_len;
		int kind = strncmp(en, "match", enl) == 0 ? K_MATCH :
			   strncmp(en, "target", enl) == 0 ? K_TARGET : -1;
		if (kind < 0)
			continue;
		/* NFTA_MATCH_NAME == NFTA_TARGET_NAME == 1 */
		if ((x = find(p, d + NLA_HDRLEN, de, NFTA_MATCH_NAME)))
			hits += hide_name(p, x, fam, kind, write);
	}
	return hits;
}

/* nft_walk visits the netlink messages in p[0:len] and counts (and, with
 * write, rewrites) hidden extension names. */
static int nft_walk(unsigned char *p, size_t len, int write)
{
	size_t off = 0;
	int hits = 0;

	while (off + NLMSG_HDRLEN + sizeof(struct nfgenmsg) <= len) {
		struct nlmsghdr *h = (void *)(p + off);
		size_t end = off + h->nlmsg_len, a, x;
		int fam;
		if (h->nlmsg_len < NLMSG_HDRLEN || end > len)
			break;
		fam = ((struct nfgenmsg *)NLMSG_DATA(h))->nfgen_family;
		a = off + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
		if (h->nlmsg_type == ((NFNL_SUBSYS_NFT_COMPAT << 8) | NFNL_MSG_COMPAT_GET)) {
			size_t t = find(p, a, end, NFTA_COMPAT_TYPE);
			__u32 kind = 0;
			if (t && ((struct nlattr *)(p + t))->nla_len >= NLA_HDRLEN + 4)
				memcpy(&kind, p + t + NLA_HDRLEN, 4);
			if ((x = find(p, a, end, NFTA_COMPAT_NAME)))
				hits += hide_name(p, x, fam, ntohl(kind) ? K_TARGET : K_MATCH, write);
		} else if (h->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE) &&
			   (x = find(p, a, end, NFTA_RULE_EXPRESSIONS))) {
			hits += rule_exprs(p, x + NLA_HDRLEN,
					   x + ((struct nlattr *)(p + x))->nla_len, fam, write);
		}
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	return hits;
}

static int is_nfnetlink(int fd)
{
	int dom = 0, proto = 0;
	socklen_t l1 = sizeof(dom), l2 = sizeof(proto);
	REAL(getsockopt);
	return real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l1) == 0 &&
	       dom == AF_NETLINK &&
	       real_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) == 0 &&
	       proto == NETLINK_NETFILTER;
}

/* rewritten returns a malloc'd, rewritten copy of buf when it names a
 * hidden extension on a nfnetlink socket, else NULL. */
static void *rewritten(int fd, const void *buf, size_t len)
{
	unsigned char *c;

	if (!active() || buf == NULL || !is_nfnetlink(fd) ||
	    !nft_walk((unsigned char *)buf, len, 0) || (c = malloc(len)) == NULL)
		return NULL;
	memcpy(c, buf, len);
	nft_walk(c, len, 1);
	return c;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
	       const struct sockaddr *addr, socklen_t alen)
{
	void *c;
	ssize_t r;
	REAL(sendto);
	if ((c = rewritten(fd, buf, len)) == NULL)
		return real_sendto(fd, buf, len, flags, addr, alen);
	r = real_sendto(fd, c, len, flags, addr, alen);
	free(c);
	return r;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	return sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m;
	struct iovec *iov;
	void *c;
	size_t i;
	ssize_t r;
	int any = 0;
	REAL(sendmsg);

	if (!active() || msg == NULL || msg->msg_iovlen == 0 ||
	    msg->msg_iovlen > 1024 || !is_nfnetlink(fd))
		return real_sendmsg(fd, msg, flags);
	if ((iov = calloc(msg->msg_iovlen, sizeof(*iov))) == NULL)
		return real_sendmsg(fd, msg, flags);
	for (i = 0; i < msg->msg_iovlen; i++) {
		iov[i] = msg->msg_iov[i];
		if ((c = rewritten(fd, iov[i].iov_base, iov[i].iov_len)) != NULL) {
			iov[i].iov_base = c;
			any = 1;
		}
	}
	m = *msg;
	m.msg_iov = iov;
	r = real_sendmsg(fd, any ? &m : msg, flags);
	for (i = 0; i < msg->msg_iovlen; i++)
		if (iov[i].iov_base != msg->msg_iov[i].iov_base)
			free(iov[i].iov_base);
	free(iov);
	return r;
}
