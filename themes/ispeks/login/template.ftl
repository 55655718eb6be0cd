<#--
  iSPEKS page layout for every login page, after keycloak.v2's template.ftl (26.x): the
  same macros, sections and scripts, in a government service's frame (state band with
  logo and names, language links, helpdesk and version in the footer). State-specific
  values come from the realm's attributes, rendered from realm-templates/.
-->
<#import "footer.ftl" as loginFooter>
<#import "theme-resources.ftl" as themeResourceTags>
<#macro username>
  <div class="ispeks-attempted">
    <span class="ispeks-attempted-label"><#if !realm.loginWithEmailAllowed>${msg("username")}<#elseif !realm.registrationEmailAsUsername>${msg("usernameOrEmail")}<#else>${msg("email")}</#if></span>
    <span class="ispeks-attempted-value" id="kc-attempted-username">${auth.attemptedUsername}</span>
    <a id="reset-login" class="ispeks-link" href="${url.loginRestartFlowUrl}">${msg("restartLoginTooltip")}</a>
  </div>
</#macro>

<#macro registrationLayout bodyClass="" displayInfo=false displayMessage=true displayRequiredFields=false>
<#assign ispeks = realm.attributes>
<#assign stateName = ispeks["ispeks.stateName"]!realm.displayName!realm.name>
<#assign helpdesk = (ispeks["ispeks.helpdesk"]!"[]")?eval_json>
<!DOCTYPE html>
<html class="${properties.kcHtmlClass!} ispeks" lang="${lang}"<#if realm.internationalizationEnabled> dir="${(locale.rtl)?then('rtl','ltr')}"</#if>>

<head>
    <meta charset="utf-8">
    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
    <meta name="color-scheme" content="light">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="robots" content="noindex, nofollow">
    <title><#if title?has_content>${title} | </#if>${realm.displayName!stateName}</title>
    <link rel="icon" href="${url.resourcesPath}/img/logo.svg" type="image/svg+xml" />
    <#if properties.stylesCommon?has_content>
        <#list properties.stylesCommon?split(' ') as style>
            <link href="${url.resourcesCommonPath}/${style}" rel="stylesheet" />
        </#list>
    </#if>
    <#if properties.styles?has_content>
        <#list properties.styles?split(' ') as style>
            <link href="${url.resourcesPath}/${style}" rel="stylesheet" />
        </#list>
    </#if>
    <script type="importmap">
        {
            "imports": {
                "rfc4648": "${url.resourcesCommonPath}/vendor/rfc4648/rfc4648.js"
            }
        }
    </script>
    <#if properties.scripts?has_content>
        <#list properties.scripts?split(' ') as script>
            <script src="${url.resourcesPath}/${script}" type="text/javascript"></script>
        </#list>
    </#if>
    <#if scripts??>
        <#list scripts as script>
            <script src="${script}" type="text/javascript"></script>
        </#list>
    </#if>
    <script type="module" src="${url.resourcesPath}/js/passwordVisibility.js"></script>
    <script type="module">
        <#outputformat "JavaScript">
        import { startSessionPolling } from ${(url.resourcesPath + "/js/authChecker.js")?c};

        startSessionPolling(
            ${url.ssoLoginInOtherTabsUrl?c}
        );
        </#outputformat>
    </script>
    <script type="module">
        document.addEventListener("click", (event) => {
            const link = event.target.closest("a[data-once-link]");

            if (!link) {
                return;
            }

            if (link.getAttribute("aria-disabled") === "true") {
                event.preventDefault();
                return;
            }

            const { disabledClass } = link.dataset;

            if (disabledClass) {
                link.classList.add(...disabledClass.trim().split(/\s+/));
            }

            link.setAttribute("role", "link");
            link.setAttribute("aria-disabled", "true");
        });
    </script>
    <#if authenticationSession??>
        <script type="module">
             <#outputformat "JavaScript">
            import { checkAuthSession } from ${(url.resourcesPath + "/js/authChecker.js")?c};

            checkAuthSession(
                ${authenticationSession.authSessionIdHash?c}
            );
            </#outputformat>
        </script>
    </#if>
</head>

<body id="keycloak-bg" class="ispeks-body ${properties.kcBodyClass!} ${bodyClass}" data-page-id="login-${pageId}">
<a class="ispeks-skip-link" href="#ispeks-main">${msg("ispeksSkipToContent")}</a>
<header class="ispeks-header">
  <div class="ispeks-header-inner">
    <div class="ispeks-brand">
      <img class="ispeks-logo" src="${url.resourcesPath}/img/logo.svg" alt="${msg('ispeksLogoAlt', stateName)}" width="56" height="56">
      <div class="ispeks-brand-text">
        <p class="ispeks-state">${msg("ispeksStateGovernment", stateName)}</p>
        <p class="ispeks-product">${ispeks["ispeks.product"]!"iSPEKS"}</p>
      </div>
    </div>
    <#if realm.internationalizationEnabled && locale.supported?size gt 1>
      <nav class="ispeks-languages" aria-label="${msg('ispeksLanguage')}">
        <ul>
          <#list locale.supported as l>
            <li><a href="${l.url}" lang="${l.languageTag}" hreflang="${l.languageTag}" id="ispeks-locale-${l.languageTag}"<#if l.languageTag == locale.currentLanguageTag> aria-current="true"</#if>>${l.label}</a></li>
          </#list>
        </ul>
      </nav>
    </#if>
  </div>
  <div class="ispeks-system-band">
    <p class="ispeks-system-name">${msg("ispeksSystemName")}</p>
  </div>
</header>

<#assign aside><#nested "aside"></#assign>
<main class="ispeks-main<#if aside?markup_string?trim?has_content> ispeks-main-wide</#if>" id="ispeks-main" tabindex="-1">
  <div class="ispeks-card">
    <h1 class="ispeks-title" id="kc-page-title"><#nested "header"></h1>

    <#if !(auth?has_content && auth.showUsername() && !auth.showResetCredentials())>
        <#if displayRequiredFields>
            <p class="ispeks-required-note"><span class="ispeks-required" aria-hidden="true">*</span> ${msg("requiredFields")}</p>
        </#if>
    <#else>
        <#if displayRequiredFields>
            <p class="ispeks-required-note"><span class="ispeks-required" aria-hidden="true">*</span> ${msg("requiredFields")}</p>
        </#if>
        <#nested "show-username">
        <@username />
    </#if>

    <#-- App-initiated actions should not see warning messages about the need to complete the action during login. -->
    <#if displayMessage && message?has_content && (message.type != 'warning' || !isAppInitiatedAction??)>
        <div class="ispeks-alert ispeks-alert-${message.type}" role="<#if message.type = 'error'>alert<#else>status</#if>">
            <span class="${properties.kcAlertTitleClass!} kc-feedback-text">${kcSanitize(message.summary)?no_esc}</span>
        </div>
    </#if>

    <#nested "form">

    <#if auth?has_content && auth.showTryAnotherWayLink()>
      <form id="kc-select-try-another-way-form" action="${url.loginAction}" method="post" novalidate="novalidate">
          <input type="hidden" name="tryAnotherWay" value="on"/>
          <button type="submit" id="try-another-way" class="ispeks-button ispeks-button-secondary">${msg("doTryAnotherWay")}</button>
      </form>
    </#if>

    <#if switchOrganizationEnabled?? && switchOrganizationEnabled>
      <form id="kc-switch-organization-form" action="${url.loginAction}" method="post" novalidate="novalidate">
          <input type="hidden" name="switchOrganization" value="true"/>
          <button type="submit" id="switch-organization" class="ispeks-button ispeks-button-secondary">${msg("doSwitchOrganization")}</button>
      </form>
    </#if>

    <#nested "socialProviders">

    <#if displayInfo>
      <div id="kc-info" class="ispeks-info">
        <div id="kc-info-wrapper">
          <#nested "info">
        </div>
      </div>
    </#if>

    <@loginFooter.content/>
  </div>
  <#if aside?markup_string?trim?has_content>
    <aside class="ispeks-aside" aria-labelledby="ispeks-aside-title">${aside}</aside>
  </#if>
</main>

<footer class="ispeks-footer">
  <div class="ispeks-footer-inner">
    <#if helpdesk?has_content>
      <section class="ispeks-helpdesk" aria-labelledby="ispeks-helpdesk-title">
        <h2 id="ispeks-helpdesk-title">${msg("ispeksHelpdesk")}</h2>
        <p>${msg("ispeksHelpdeskIntro")}</p>
        <ul>
          <#list helpdesk as contact>
            <li>
              <strong>${contact.name}</strong>
              <span>${msg("ispeksPhone")}: <a href="tel:${contact.phone?replace(' ', '')}">${contact.phone}</a></span>
              <span>${msg("ispeksEmail")}: <a href="mailto:${contact.email}">${contact.email}</a></span>
            </li>
          </#list>
        </ul>
      </section>
    </#if>
    <div class="ispeks-footer-meta">
      <p class="ispeks-version" id="ispeks-version">${ispeks["ispeks.versionLabel"]!""}</p>
      <p class="ispeks-copyright">${msg("ispeksCopyright", .now?string("yyyy"), stateName)}</p>
    </div>
  </div>
</footer>
</body>
</html>
</#macro>
