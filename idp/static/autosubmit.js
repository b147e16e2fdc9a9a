// Sends the SAML response on to the service provider; without JavaScript the button does it.
document.getElementById("saml-post").submit();
