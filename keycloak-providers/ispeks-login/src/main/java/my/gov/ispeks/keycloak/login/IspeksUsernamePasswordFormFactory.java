package my.gov.ispeks.keycloak.login;

import java.util.List;
import java.util.Map;

import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.authenticators.browser.UsernamePasswordFormFactory;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.provider.ProviderConfigurationBuilder;

/**
 * Registers {@link IspeksUsernamePasswordForm} as {@value #PROVIDER_ID}. Everything but
 * the id, the configuration and the authenticator is Keycloak's own factory (the
 * "password" reference category, so brute-force detection counts its failures).
 */
public class IspeksUsernamePasswordFormFactory extends UsernamePasswordFormFactory {

    public static final String PROVIDER_ID = "ispeks-username-password-form";
    public static final String PER_MINUTE = "failedPostsPerAddressPerMinute";
    public static final String PER_HOUR = "failedPostsPerAddressPerHour";
    static final int DEFAULT_PER_MINUTE = 10;
    static final int DEFAULT_PER_HOUR = 50;

    /** One per Keycloak node, shared by every realm (keys carry the realm id). */
    private static final AddressLimiter LIMITER = new AddressLimiter();

    @Override
    public Authenticator create(KeycloakSession session) {
        return new IspeksUsernamePasswordForm(session, LIMITER);
    }

    @Override
    public String getId() {
        return PROVIDER_ID;
    }

    @Override
    public String getDisplayType() {
        return "iSPEKS Username Password Form";
    }

    @Override
    public String getHelpText() {
        return "Keycloak's username and password form that spends the same hash time for locked, "
                + "disabled and unknown users, and refuses (uncounted) posts from an address over "
                + "its allowance of failures.";
    }

    @Override
    public boolean isConfigurable() {
        return true;
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return ProviderConfigurationBuilder.create()
                .property().name(PER_MINUTE).type(ProviderConfigProperty.STRING_TYPE)
                .label("Failed posts per address per minute")
                .helpText("Wrong or refused password posts one client address (IPv6: one /64) may make "
                        + "in a minute before the form refuses without checking; 0 turns it off.")
                .defaultValue(String.valueOf(DEFAULT_PER_MINUTE)).add()
                .property().name(PER_HOUR).type(ProviderConfigProperty.STRING_TYPE)
                .label("Failed posts per address per hour")
                .helpText("The same per hour; 0 turns it off.")
                .defaultValue(String.valueOf(DEFAULT_PER_HOUR)).add()
                .build();
    }

    /** The limits of an execution's configuration; defaults where missing or unreadable. */
    static AddressLimiter.Limits limits(AuthenticatorConfigModel model) {
        Map<String, String> config = model == null || model.getConfig() == null ? Map.of() : model.getConfig();
        return new AddressLimiter.Limits(number(config.get(PER_MINUTE), DEFAULT_PER_MINUTE),
                                         number(config.get(PER_HOUR), DEFAULT_PER_HOUR));
    }

    private static int number(String value, int fallback) {
        if (value == null || value.isBlank()) {
            return fallback;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }
}
