<#--
  TOTP code at login (Keycloak's auth-otp-form), in the iSPEKS layout: asked at every
  login of a user holding a privileged task (ispeks-tugas totp-wajib) and of a user who
  turned TOTP on (realm.json.j2, the "-totp-" subflows). Field name "otp", as Keycloak's.
-->
<#import "template.ftl" as layout>
<#assign otpError = messagesPerField.getFirstError('totp')>
<@layout.registrationLayout displayMessage=!messagesPerField.existsError('totp'); section>
    <#if section = "header">
        <#-- Every section's output counts: a comment outside them would make an empty aside. -->
        ${msg("ispeksOtpTitle")}
    <#elseif section = "form">
        <!-- template: login-otp.ftl (iSPEKS) -->
        <p class="ispeks-hint" id="ispeks-otp-intro">${msg("ispeksOtpIntro")}</p>
        <form id="kc-otp-login-form" class="ispeks-form" action="${url.loginAction}" method="post"
              onsubmit="this.querySelector('#kc-login').disabled = true; return true;">
            <input id="selectedCredentialId" type="hidden" name="selectedCredentialId" value="${otpLogin.selectedCredentialId!''}">
            <#if otpLogin.userOtpCredentials?size gt 1>
                <fieldset class="ispeks-field" id="ispeks-otp-devices">
                    <legend class="ispeks-label">${msg("ispeksOtpDevice")}</legend>
                    <#list otpLogin.userOtpCredentials as otpCredential>
                        <label class="ispeks-choice">
                            <input type="radio" name="ispeks-otp-device" value="${otpCredential.id}"
                                   onchange="document.getElementById('selectedCredentialId').value = this.value"
                                   <#if otpCredential.id == (otpLogin.selectedCredentialId!'')>checked</#if>>
                            ${otpCredential.userLabel!msg("ispeksOtpDeviceUnnamed")}
                        </label>
                    </#list>
                </fieldset>
            </#if>
            <div class="ispeks-field">
                <label for="otp" class="ispeks-label">${msg("loginOtpOneTime")}</label>
                <input id="otp" name="otp" type="text" class="ispeks-input ispeks-input-code<#if otpError?has_content> ispeks-input-error</#if>"
                       autocomplete="one-time-code" inputmode="numeric" pattern="[0-9]*" maxlength="6"
                       autofocus <#if otpError?has_content>aria-invalid="true" aria-describedby="input-error-otp-code"</#if>/>
                <div class="ispeks-error-container" aria-live="polite"><#if otpError?has_content><p class="ispeks-error"><span id="input-error-otp-code" class="kc-feedback-text">${kcSanitize(otpError)?no_esc}</span></p></#if></div>
            </div>
            <div class="ispeks-actions">
                <button type="submit" class="ispeks-button ispeks-button-primary" id="kc-login" name="login">${msg("doLogIn")}</button>
            </div>
        </form>
        <div class="ispeks-notice" id="ispeks-otp-lost">
            <p>${msg("ispeksOtpLostPhone")}</p>
        </div>
    </#if>
</@layout.registrationLayout>
