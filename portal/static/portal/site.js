// Apply catalog filters as soon as a select changes (the Apply button stays for no-JS use).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("filters");
  if (form) {
    form.querySelectorAll("select").forEach((el) => el.addEventListener("change", () => form.submit()));
  }
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", () => {
      const source = document.getElementById(button.dataset.copy);
      navigator.clipboard.writeText(source.value || source.textContent).then(() => {
        button.textContent = "Copied";
      });
    });
  });
});
