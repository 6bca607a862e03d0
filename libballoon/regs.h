/* SPDX-License-Identifier: MIT */
/*
 * regs.h - internal: atomic little-endian access to the shared register page
 * (struct bln_regs), which two processes may touch at the same time.
 * Loads acquire, stores release; OR/AND work on the wire value directly
 * because a bit mask converts to little-endian like any other value.
 */
#ifndef LIBBALLOON_REGS_H
#define LIBBALLOON_REGS_H

#include <stdint.h>

#include "balloon/bln_transport.h"

static inline uint16_t reg_ld16(const uint16_t *p)
{
	return bln_le16(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

static inline uint32_t reg_ld32(const uint32_t *p)
{
	return bln_le32(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

static inline uint64_t reg_ld64(const uint64_t *p)
{
	return bln_le64(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

static inline void reg_st16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, bln_to_le16(v), __ATOMIC_RELEASE);
}

static inline void reg_st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, bln_to_le32(v), __ATOMIC_RELEASE);
}

static inline void reg_st64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, bln_to_le64(v), __ATOMIC_RELEASE);
}

static inline void reg_or32(uint32_t *p, uint32_t bits)
{
	__atomic_fetch_or(p, bln_to_le32(bits), __ATOMIC_SEQ_CST);
}

static inline void reg_and32(uint32_t *p, uint32_t bits)
{
	__atomic_fetch_and(p, bln_to_le32(bits), __ATOMIC_SEQ_CST);
}

/* Bump a driver- or device-owned generation counter (single writer). */
static inline uint32_t reg_bump32(uint32_t *p)
{
	uint32_t v = reg_ld32(p) + 1;

	reg_st32(p, v);
	return v;
}

#endif
