<#--
  TOTP enrolment (Keycloak's CONFIGURE_TOTP required action), in the iSPEKS layout: at
  the first login after a privileged task is granted, after `ispeks-idp users reset-otp`,
  or when a user turns TOTP on in the sidecar's settings (application-initiated, with a
  cancel button). The QR code and the key in text are both shown: not every phone can
  scan, and the key must be readable (RFC 6238: SHA-1, 6 digits, 30 s). Keycloak keeps
  the credential; the hidden totpSecret and the field names are Keycloak's.
-->
<#import "template.ftl" as layout>
<#assign codeError = messagesPerField.getFirstError('totp')>
<#assign labelError = messagesPerField.getFirstError('userLabel')>
<@layout.registrationLayout displayMessage=!messagesPerField.existsError('totp','userLabel'); section>
    <#if section = "header">
        <#-- Every section's output counts: a comment outside them would make an empty aside. -->
        ${msg("loginTotpTitle")}
    <#elseif section = "form">
        <!-- template: login-config-totp.ftl (iSPEKS) -->
        <p id="ispeks-totp-why">${msg("ispeksTotpWhy")}</p>
        <ol id="kc-totp-settings" class="ispeks-steps">
            <li>
                <p>${msg("ispeksTotpStep1")}</p>
                <ul id="kc-totp-supported-apps">
                    <#list totp.supportedApplications as app>
                        <li>${msg(app)}</li>
                    </#list>
                </ul>
            </li>
            <li>
                <p>${msg("ispeksTotpStep2")}</p>
                <img id="kc-totp-secret-qr-code" class="ispeks-qr" src="data:image/png;base64, ${totp.totpSecretQrCode}"
                     alt="${msg('ispeksTotpQrAlt')}" width="180" height="180">
                <p class="ispeks-label" id="ispeks-totp-key-label">${msg("ispeksTotpKeyLabel")}</p>
                <p class="ispeks-totp-key" id="kc-totp-secret-key" aria-labelledby="ispeks-totp-key-label">${totp.totpSecretEncoded}</p>
                <p class="ispeks-hint" id="ispeks-totp-settings">${msg("ispeksTotpSettings", totp.policy.getAlgorithmKey(), totp.policy.digits?c, totp.policy.period?c)}</p>
            </li>
            <li>
                <p>${msg("ispeksTotpStep3")}</p>
            </li>
        </ol>

        <form action="${url.loginAction}" class="ispeks-form" id="kc-totp-settings-form" method="post" novalidate="novalidate">
            <div class="ispeks-field">
                <label for="totp" class="ispeks-label">${msg("authenticatorCode")} <span class="ispeks-required" aria-hidden="true">*</span></label>
                <input type="text" required id="totp" name="totp" autocomplete="one-time-code" inputmode="numeric" maxlength="6"
                       class="ispeks-input ispeks-input-code<#if codeError?has_content> ispeks-input-error</#if>"
                       <#if codeError?has_content>aria-invalid="true" aria-describedby="input-error-otp-code"</#if>/>
                <div class="ispeks-error-container" aria-live="polite"><#if codeError?has_content><p class="ispeks-error"><span id="input-error-otp-code" class="kc-feedback-text">${kcSanitize(codeError)?no_esc}</span></p></#if></div>
                <input type="hidden" id="totpSecret" name="totpSecret" value="${totp.totpSecret}" />
                <#if mode??><input type="hidden" id="mode" name="mode" value="${mode}"/></#if>
            </div>
            <div class="ispeks-field">
                <label for="userLabel" class="ispeks-label">${msg("loginTotpDeviceName")}<#if totp.otpCredentials?size gte 1> <span class="ispeks-required" aria-hidden="true">*</span></#if></label>
                <p class="ispeks-hint" id="userLabel-hint">${msg("ispeksTotpDeviceHint")}</p>
                <input type="text" id="userLabel" name="userLabel" autocomplete="off" maxlength="64"
                       class="ispeks-input<#if labelError?has_content> ispeks-input-error</#if>"
                       aria-describedby="userLabel-hint<#if labelError?has_content> input-error-otp-label</#if>"
                       <#if labelError?has_content>aria-invalid="true"</#if>/>
                <div class="ispeks-error-container" aria-live="polite"><#if labelError?has_content><p class="ispeks-error"><span id="input-error-otp-label" class="kc-feedback-text">${kcSanitize(labelError)?no_esc}</span></p></#if></div>
            </div>
            <div class="ispeks-actions">
                <button type="submit" class="ispeks-button ispeks-button-primary" id="saveTOTPBtn">${msg("doSubmit")}</button>
                <#if isAppInitiatedAction??>
                    <button type="submit" class="ispeks-button ispeks-button-secondary" id="cancelTOTPBtn" name="cancel-aia" value="true">${msg("doCancel")}</button>
                </#if>
            </div>
        </form>
    </#if>
</@layout.registrationLayout>
