package my.gov.ispeks.keycloak.login;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class AddressLimiterTest {

    private static final long SECOND = 1_000_000_000L;
    private final AtomicLong now = new AtomicLong(0);
    private final AddressLimiter limiter = new AddressLimiter(now::get, 3);

    private int allowed(String key, AddressLimiter.Limits limits, int posts) {
        int count = 0;
        for (int i = 0; i < posts; i++) {
            if (limiter.tryAcquire(key, limits)) {
                count++;
            }
        }
        return count;
    }

    @Test
    void aBurstIsCutAtTheMinuteLimitAndRefillsAtItsRate() {
        AddressLimiter.Limits limits = new AddressLimiter.Limits(5, 100);
        assertEquals(5, allowed("r|10.0.0.1", limits, 20));
        now.addAndGet(12 * SECOND); // 5 a minute: one post back every 12 s
        assertEquals(1, allowed("r|10.0.0.1", limits, 5));
        assertEquals(5, allowed("r|10.0.0.2", limits, 20), "another address has its own allowance");
    }

    @Test
    void theHourLimitHoldsWhenTheMinuteOneRefills() {
        AddressLimiter.Limits limits = new AddressLimiter.Limits(10, 12);
        assertEquals(10, allowed("k", limits, 10));
        now.addAndGet(60 * SECOND);
        assertEquals(2, allowed("k", limits, 10)); // the minute refilled, the hour only by 0.2
    }

    @Test
    void aSuccessfulPostGivesItsAllowanceBack() {
        AddressLimiter.Limits limits = new AddressLimiter.Limits(2, 10);
        for (int i = 0; i < 10; i++) {
            assertTrue(limiter.tryAcquire("k", limits));
            limiter.release("k", limits);
        }
        assertEquals(2, allowed("k", limits, 5));
    }

    @Test
    void zeroTurnsALimitOff() {
        assertEquals(50, allowed("k", new AddressLimiter.Limits(0, 0), 50));
        assertEquals(50, allowed("j", new AddressLimiter.Limits(0, 60), 50));
        assertEquals(1, limiter.size(), "only the limit that is on keeps state");
    }

    @Test
    void aFullTableDropsIdleKeysAndOtherwiseCountsNobodyNew() {
        AddressLimiter.Limits limits = new AddressLimiter.Limits(1, 1);
        for (String key : new String[] {"a", "b", "c"}) {
            assertTrue(limiter.tryAcquire(key, limits));
        }
        assertTrue(limiter.tryAcquire("d", limits), "full of busy keys: a new one is not refused");
        assertTrue(limiter.tryAcquire("d", limits));
        assertEquals(3, limiter.size());
        now.addAndGet(3601 * SECOND);
        assertTrue(limiter.tryAcquire("d", limits));
        assertFalse(limiter.tryAcquire("d", limits), "after the idle keys left, d is counted");
    }

    @Test
    void ipv6IsLimitedByItsSlash64AndIpv4ByItself() {
        assertEquals("2001:db8:1:2::/64", AddressLimiter.addressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        assertEquals("2001:db8:1:2::/64", AddressLimiter.addressKey("2001:db8:1:2::1"));
        assertEquals("192.0.2.7", AddressLimiter.addressKey("::ffff:192.0.2.7"));
        assertEquals("192.0.2.7", AddressLimiter.addressKey("192.0.2.7"));
        assertEquals("unknown", AddressLimiter.addressKey(null));
        assertEquals("not-an-address.example", AddressLimiter.addressKey("not-an-address.example"));
    }
}
