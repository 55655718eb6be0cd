<#--
  Identity-first login on Keycloak's single username-and-password form (never the
  Username Form, which tells unknown IDs apart: KEYCLOAK-NOTES.md).

  Without JavaScript: ID and password in one form, one "Login" button.
  With js/ispeks-login.js: step one shows the ID and "Seterusnya"; step two fetches the
  phrase and image from the sidecar (states that use them) and shows them above the
  password, with "Login" and "Kembali". Both inputs stay in the one form, with their
  autocomplete names, so password managers work either way.
-->
<#import "template.ftl" as layout>
<#import "passkeys.ftl" as passkeys>
<#assign ispeks = realm.attributes>
<#assign sidecarUrl = (ispeks["ispeks.sidecarUrl"]!"")?remove_ending("/")>
<#assign realmPath = sidecarUrl + "/" + realm.name?url("UTF-8")>
<#assign usesSiteKey = (ispeks["ispeks.secretPhraseAndImage"]!"false") == "true" && sidecarUrl?has_content>
<#assign onboarding = ispeks["ispeks.onboarding"]!"">
<#assign idError = messagesPerField.getFirstError('username','password')>
<@layout.registrationLayout displayMessage=!messagesPerField.existsError('username','password') displayInfo=false; section>
<!-- template: login.ftl (iSPEKS) -->
    <#if section = "header">
        ${msg("loginAccountTitle")}
    <#elseif section = "form">
        <div id="kc-form">
          <div id="kc-form-wrapper">
            <#if realm.password>
                <form id="kc-form-login" class="ispeks-form" action="${url.loginAction}" method="post" novalidate="novalidate"
                      <#if !usernameHidden??>data-ispeks-steps="true"</#if>
                      <#if usesSiteKey>data-site-key-url="${realmPath}/site-key" data-gallery-url="${sidecarUrl}/static/gallery/"</#if>
                      data-msg-id-required="${msg('ispeksIdRequired')}"
                      data-msg-loading="${msg('ispeksLoading')}"
                      data-msg-show="${msg('ispeksShowPassword')}" data-msg-hide="${msg('ispeksHidePassword')}"
                      data-msg-show-label="${msg('ispeksShowPasswordLabel')}" data-msg-hide-label="${msg('ispeksHidePasswordLabel')}">
                    <#if !usernameHidden??>
                        <div class="ispeks-field" id="ispeks-step-id">
                            <label for="username" class="ispeks-label">${msg("username")}</label>
                            <p class="ispeks-hint" id="username-hint">${msg("ispeksUsernameHint")}</p>
                            <input id="username" name="username" type="text" class="ispeks-input<#if idError?has_content> ispeks-input-error</#if>"
                                   value="${(login.username!'')}" autocomplete="${(enableWebAuthnConditionalUI?has_content)?then('username webauthn', 'username')}"
                                   autocapitalize="none" spellcheck="false" autofocus
                                   aria-describedby="username-hint<#if idError?has_content> input-error-username</#if>"
                                   <#if idError?has_content>aria-invalid="true"</#if>/>
                            <div id="input-error-container-username" class="ispeks-error-container" aria-live="polite"><#if idError?has_content><p class="ispeks-error"><span id="input-error-username" class="kc-feedback-text">${kcSanitize(idError)?no_esc}</span></p></#if></div>
                        </div>
                    </#if>

                    <#if usesSiteKey && !usernameHidden??>
                        <div id="ispeks-site-key" class="ispeks-site-key" hidden>
                            <div class="ispeks-site-key-item">
                                <p class="ispeks-label" id="ispeks-phrase-label">${msg("ispeksSecretPhrase")}</p>
                                <p class="ispeks-phrase" id="ispeks-phrase" aria-labelledby="ispeks-phrase-label"></p>
                            </div>
                            <figure class="ispeks-site-key-item ispeks-image-box">
                                <figcaption class="ispeks-label" id="ispeks-image-label">${msg("ispeksOnlineImage")}</figcaption>
                                <img id="ispeks-image" src="data:," alt="" width="112" height="112">
                            </figure>
                            <p class="ispeks-hint ispeks-site-key-hint" id="ispeks-site-key-hint">${msg("ispeksSiteKeyHint")}</p>
                        </div>
                        <p id="ispeks-site-key-unavailable" class="ispeks-alert ispeks-alert-warning" role="status" hidden>${msg("ispeksSiteKeyUnavailable")}</p>
                        <noscript><p class="ispeks-alert ispeks-alert-info">${msg("ispeksSiteKeyNoScript")}</p></noscript>
                    </#if>

                    <div class="ispeks-field" id="ispeks-step-password">
                        <label for="password" class="ispeks-label">${msg("password")}</label>
                        <div class="ispeks-password">
                            <input id="password" name="password" type="password" class="ispeks-input<#if idError?has_content && usernameHidden??> ispeks-input-error</#if>"
                                   autocomplete="current-password" <#if usernameHidden??>autofocus</#if>
                                   <#if usernameHidden?? && idError?has_content>aria-invalid="true" aria-describedby="input-error-password"</#if>/>
                            <button type="button" class="ispeks-button ispeks-button-quiet" id="ispeks-toggle-password"
                                    aria-controls="password" aria-pressed="false" aria-label="${msg('ispeksShowPasswordLabel')}" hidden>${msg("ispeksShowPassword")}</button>
                        </div>
                        <#if usernameHidden??>
                            <div id="input-error-container-password" class="ispeks-error-container" aria-live="polite"><#if idError?has_content><p class="ispeks-error"><span id="input-error-password" class="kc-feedback-text">${kcSanitize(idError)?no_esc}</span></p></#if></div>
                        </#if>
                    </div>

                    <input type="hidden" id="id-hidden-input" name="credentialId" <#if auth.selectedCredential?has_content>value="${auth.selectedCredential}"</#if>/>
                    <div class="ispeks-actions">
                        <button type="button" class="ispeks-button ispeks-button-primary" id="ispeks-next" hidden>${msg("doNext")}</button>
                        <button type="submit" class="ispeks-button ispeks-button-primary" id="kc-login" name="login">${msg("doLogIn")}</button>
                        <button type="button" class="ispeks-button ispeks-button-secondary" id="ispeks-back" hidden>${msg("doBack")}</button>
                    </div>
                </form>
                <script src="${url.resourcesPath}/js/ispeks-login.js"></script>
            </#if>
          </div>
        </div>

        <nav class="ispeks-links" aria-label="${msg('loginAccountTitle')}">
          <ul>
            <#if sidecarUrl?has_content>
              <#if onboarding == "temporary-password">
                <li><a id="ispeks-first-login" href="${realmPath}/first-login">${msg("ispeksFirstLogin")}</a></li>
              </#if>
              <li><a id="ispeks-recovery" href="${realmPath}/recovery">${msg("doForgotPassword")}</a></li>
            </#if>
          </ul>
          <#if sidecarUrl?has_content && onboarding == "activation-link">
            <p class="ispeks-activation" id="ispeks-activation">${msg("ispeksActivationResendBefore")} <a id="ispeks-activation-link" href="${realmPath}/activation">${msg("ispeksActivationResendLink")}</a> ${msg("ispeksActivationResendAfter")}</p>
          </#if>
        </nav>

        <div class="ispeks-notice" id="ispeks-lockout-warning">
          <p>${msg("ispeksLockoutWarning", ispeks["ispeks.failureFactor"]!"3")}</p>
        </div>
        <@passkeys.conditionalUIData />
    <#elseif section = "aside">
        <h2 id="ispeks-aside-title">${msg("ispeksWelcome", ispeks["ispeks.product"]!"iSPEKS")}</h2>
        <p>${msg("ispeksWelcomeText", ispeks["ispeks.product"]!"iSPEKS", ispeks["ispeks.stateName"]!realm.displayName!"")}</p>
        <h3>${msg("ispeksSafetyTitle")}</h3>
        <ul class="ispeks-tips">
          <#if usesSiteKey><li>${msg("ispeksSafetySiteKey")}</li></#if>
          <li>${msg("ispeksSafetyNeverShare")}</li>
          <li>${msg("ispeksSafetyAddress")}</li>
          <li>${msg("ispeksSafetyLogout")}</li>
        </ul>
    <#elseif section = "socialProviders" >
    </#if>

</@layout.registrationLayout>
