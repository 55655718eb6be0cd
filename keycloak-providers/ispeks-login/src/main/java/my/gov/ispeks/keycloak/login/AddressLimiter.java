package my.gov.ispeks.keycloak.login;

import java.net.InetAddress;
import java.net.Inet6Address;
import java.net.UnknownHostException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;

/**
 * Failed password posts per client address, kept in this Keycloak node's memory.
 *
 * <p>Two token buckets per key (a realm and an address; IPv6 by its /64): one holds
 * {@code perMinute} posts and refills at that rate per minute, the other {@code perHour}
 * per hour. Every post takes one token from each before the password is looked at, and a
 * post that signs in gives them back, so only failures use the allowance; a post that
 * finds a bucket empty is refused without a password check. A limit of 0 or less turns
 * that bucket off.
 *
 * <p>In-node on purpose: counting is exact and atomic and costs no cluster round trip.
 * With several Keycloak nodes behind a balancer an address gets up to the limit on each
 * node; the TLS proxy in front adds its own per-address limit.
 */
final class AddressLimiter {

    /** Most keys kept; beyond it idle keys are dropped, then new keys go uncounted. */
    static final int MAX_KEYS = 100_000;
    private static final long MINUTE_NANOS = 60_000_000_000L;
    private static final long HOUR_NANOS = 60 * MINUTE_NANOS;
    private static final long PRUNE_EVERY_NANOS = 1_000_000_000L;
    private static final Pattern IP_LITERAL = Pattern.compile("[0-9A-Fa-f:.]+(%[\\w.-]+)?");

    /** Allowances of one realm (from the authenticator's configuration). */
    record Limits(int perMinute, int perHour) {
        boolean off() {
            return perMinute <= 0 && perHour <= 0;
        }
    }

    private final ConcurrentHashMap<String, Buckets> entries = new ConcurrentHashMap<>();
    private final LongSupplier nanoClock;
    private final int maxKeys;
    private volatile long lastPrune;

    AddressLimiter() {
        this(System::nanoTime, MAX_KEYS);
    }

    AddressLimiter(LongSupplier nanoClock, int maxKeys) {
        this.nanoClock = nanoClock;
        this.maxKeys = maxKeys;
        this.lastPrune = nanoClock.getAsLong();
    }

    /** Take one post's allowance for {@code key}; false: over the limit, refuse the post. */
    boolean tryAcquire(String key, Limits limits) {
        if (limits.off()) {
            return true;
        }
        long now = nanoClock.getAsLong();
        Buckets buckets = entries.get(key);
        if (buckets == null) {
            if (entries.size() >= maxKeys && !pruneIdle(now)) {
                return true; // full of busy keys: count nobody new rather than refuse everyone
            }
            buckets = entries.computeIfAbsent(key, k -> new Buckets(limits, now));
        }
        synchronized (buckets) {
            buckets.refill(limits, now);
            if (!buckets.hasToken(limits)) {
                return false;
            }
            buckets.take(limits);
            return true;
        }
    }

    /** Give back the allowance taken for a post that signed in. */
    void release(String key, Limits limits) {
        Buckets buckets = entries.get(key);
        if (buckets == null || limits.off()) {
            return;
        }
        synchronized (buckets) {
            buckets.refill(limits, nanoClock.getAsLong());
            buckets.give(limits);
        }
    }

    int size() {
        return entries.size();
    }

    /** Drop keys whose buckets have refilled (idle); true if there is room now. */
    private boolean pruneIdle(long now) {
        if (now - lastPrune >= PRUNE_EVERY_NANOS) {
            lastPrune = now;
            entries.entrySet().removeIf(entry -> {
                Buckets buckets = entry.getValue();
                synchronized (buckets) {
                    return buckets.idle(now);
                }
            });
        }
        return entries.size() < maxKeys;
    }

    /**
     * The part of a client address that is limited: the address itself for IPv4 (and
     * IPv4-mapped IPv6), the /64 prefix for IPv6 (one subscriber holds a whole /64).
     */
    static String addressKey(String remote) {
        if (remote == null || remote.isEmpty()) {
            return "unknown";
        }
        if (!IP_LITERAL.matcher(remote).matches()) {
            return remote; // not an IP literal: never resolve names here
        }
        try {
            InetAddress address = InetAddress.getByName(remote);
            if (address instanceof Inet6Address) {
                byte[] bytes = address.getAddress();
                StringBuilder prefix = new StringBuilder();
                for (int i = 0; i < 8; i += 2) {
                    prefix.append(Integer.toHexString(((bytes[i] & 0xff) << 8) | (bytes[i + 1] & 0xff)))
                          .append(':');
                }
                return prefix.append(":/64").toString();
            }
            return address.getHostAddress();
        } catch (UnknownHostException | SecurityException e) {
            return remote;
        }
    }

    /** The minute and hour buckets of one key; guarded by their own monitor. */
    private static final class Buckets {
        private double minute;
        private double hour;
        private long updated;

        Buckets(Limits limits, long now) {
            minute = Math.max(limits.perMinute(), 0);
            hour = Math.max(limits.perHour(), 0);
            updated = now;
        }

        void refill(Limits limits, long now) {
            long elapsed = Math.max(0, now - updated);
            updated = now;
            minute = refilled(minute, limits.perMinute(), elapsed, MINUTE_NANOS);
            hour = refilled(hour, limits.perHour(), elapsed, HOUR_NANOS);
        }

        private static double refilled(double tokens, int capacity, long elapsed, long period) {
            if (capacity <= 0) {
                return 0;
            }
            return Math.min(capacity, tokens + (double) elapsed * capacity / period);
        }

        boolean hasToken(Limits limits) {
            return (limits.perMinute() <= 0 || minute >= 1) && (limits.perHour() <= 0 || hour >= 1);
        }

        void take(Limits limits) {
            if (limits.perMinute() > 0) {
                minute -= 1;
            }
            if (limits.perHour() > 0) {
                hour -= 1;
            }
        }

        void give(Limits limits) {
            if (limits.perMinute() > 0) {
                minute = Math.min(limits.perMinute(), minute + 1);
            }
            if (limits.perHour() > 0) {
                hour = Math.min(limits.perHour(), hour + 1);
            }
        }

        /** An hour without posts refills both buckets whatever the limits were. */
        boolean idle(long now) {
            return now - updated >= HOUR_NANOS;
        }
    }
}
