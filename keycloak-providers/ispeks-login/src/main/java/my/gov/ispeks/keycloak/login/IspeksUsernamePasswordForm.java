package my.gov.ispeks.keycloak.login;

import jakarta.ws.rs.core.MultivaluedMap;
import jakarta.ws.rs.core.Response;

import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.authenticators.browser.UsernamePasswordForm;
import org.keycloak.authentication.authenticators.util.AuthenticatorUtils;
import org.keycloak.events.Details;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.PasswordCredentialModel;
import org.keycloak.representations.idm.CredentialRepresentation;
import org.keycloak.services.managers.AuthenticationManager;

import static org.keycloak.services.validation.Validation.FIELD_PASSWORD;
import static org.keycloak.services.validation.Validation.FIELD_USERNAME;

/**
 * Keycloak's username-password form with two changes for iSPEKS.
 *
 * <p><b>The same hash time for every ID.</b> Keycloak hashes a wrong password for an
 * active user, and runs a dummy hash for an unknown ID, but answers a locked
 * (brute-force, temporary or permanent) user, an empty password and a user without a
 * password before any hash: the answer's speed told locked IDs from the rest. Here those
 * cases run the same dummy hash ({@link AuthenticatorUtils#dummyHash}) first, then
 * Keycloak answers exactly as before (same page, same message, nothing else counted).
 *
 * <p><b>A limit per client address.</b> See {@link AddressLimiter}: beyond the realm's
 * allowance of failed posts the form answers the same "invalid username or password"
 * without looking up the password and without counting a failure against any account,
 * so a flood from one address cannot lock accounts. Everything else (the 3-strike
 * lockout, the theme's single message, the flows around this form) is Keycloak's.
 */
public class IspeksUsernamePasswordForm extends UsernamePasswordForm {

    /** The login event's error when the address is over its allowance. */
    public static final String ADDRESS_LIMITED = "ispeks_address_limited";

    private final AddressLimiter limiter;

    public IspeksUsernamePasswordForm(KeycloakSession session, AddressLimiter limiter) {
        super(session);
        this.limiter = limiter;
    }

    @Override
    protected boolean validateForm(AuthenticationFlowContext context, MultivaluedMap<String, String> formData) {
        AddressLimiter.Limits limits = IspeksUsernamePasswordFormFactory.limits(context.getAuthenticatorConfig());
        String key = context.getRealm().getId() + "|"
                + AddressLimiter.addressKey(context.getConnection().getRemoteAddr());
        if (!limiter.tryAcquire(key, limits)) {
            refuseOverLimit(context, formData);
            return false;
        }
        boolean valid = super.validateForm(context, formData);
        if (valid) {
            limiter.release(key, limits);
        }
        return valid;
    }

    @Override
    public boolean validatePassword(AuthenticationFlowContext context, UserModel user,
                                    MultivaluedMap<String, String> inputData, boolean clearUser) {
        String password = inputData.getFirst(CredentialRepresentation.PASSWORD);
        if (password == null || password.isEmpty()
                || AuthenticatorUtils.getDisabledByBruteForceEventError(context, user) != null
                || !user.credentialManager().isConfiguredFor(PasswordCredentialModel.TYPE)) {
            // Keycloak answers these without hashing anything; spend what a wrong password costs.
            AuthenticatorUtils.dummyHash(context);
        }
        return super.validatePassword(context, user, inputData, clearUser);
    }

    /**
     * Answer as Keycloak answers an unknown ID (same page and message, the attempted
     * username kept for the page), but hash nothing and count nothing: a forced challenge
     * is not a failure for brute-force detection.
     */
    private void refuseOverLimit(AuthenticationFlowContext context, MultivaluedMap<String, String> formData) {
        String field = FIELD_USERNAME;
        if (isUserAlreadySetBeforeUsernamePasswordAuth(context)) {
            // Re-authentication (the ID is known and hidden): answer as for a wrong password.
            context.getEvent().user(context.getUser());
            AuthenticatorUtils.setupReauthenticationInUsernamePasswordFormError(context);
            field = FIELD_PASSWORD;
        } else {
            context.clearUser();
            String username = formData.getFirst(AuthenticationManager.FORM_USERNAME);
            if (username != null && !username.trim().isEmpty()) {
                username = username.trim();
                context.getEvent().detail(Details.USERNAME, username);
                context.getAuthenticationSession().setAuthNote(ATTEMPTED_USERNAME, username);
            }
        }
        context.getEvent().error(ADDRESS_LIMITED);
        Response challengeResponse = challenge(context, getDefaultChallengeMessage(context), field);
        context.forceChallenge(challengeResponse);
    }
}
