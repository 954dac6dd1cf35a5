"""The web client as a user drives it (Selenium helpers shared by the browser tests)."""
import os

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), 'docs')


# True once nothing is loading and no mutation of the page was seen since the previous call
# (a MutationObserver installed by the first call counts them).
_SETTLED_JS = """
if (!window.__uiMutations) {
    window.__uiMutations = {count: 1, seen: -1};
    new MutationObserver(function () { window.__uiMutations.count += 1; })
        .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
}
var state = window.__uiMutations, quiet = state.count === state.seen;
state.seen = state.count;
var busy = (window.jQuery && jQuery(':animated').length > 0)
    || Array.prototype.some.call(document.querySelectorAll('.o_loading'), function (e) {
        return e.offsetParent !== null && !e.classList.contains('o_hidden'); });
return quiet && !busy && document.readyState === 'complete';
"""


class Ui(object):
    def __init__(self, driver, url):
        self.driver = driver
        self.url = url
        self.wait = WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException])

    def find(self, css):
        return self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css, by=By.CSS_SELECTOR):
        """Click the visible element matching ``css`` (Odoo renders some buttons twice)."""
        def visible(driver):
            shown = [e for e in driver.find_elements(by, css)
                     if e.is_displayed() and e.is_enabled()]
            return shown[0] if shown else False
        self.wait.until(visible).click()

    def idle(self):
        """Wait until the web client has settled: no RPC in flight (its loading indicator,
        which leaves out the bus's long polling), no animation, and the page unchanged since
        the last poll (the rendering that follows an RPC is done). A condition polled, not a
        fixed pause."""
        WebDriverWait(self.driver, 30, poll_frequency=0.1,
                      ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: d.execute_script(_SETTLED_JS))

    def login(self, login, password):
        self.driver.get(self.url + '/web/login')
        self.find('input[name=login]').send_keys(login)
        self.find('input[name=password]').send_keys(password + Keys.ENTER)
        self.find('.o_main_navbar, .o_web_client')

    def open_action(self, xmlid):
        self.driver.get(self.url + '/web#action=%s' % xmlid)
        self.find('.o_list_button_add')
        self.idle()

    def type(self, name, value):
        field = self.find('.o_form_view input[name=%s]' % name)
        field.clear()
        field.send_keys(str(value))
        field.send_keys(Keys.TAB)
        self.idle()

    def select(self, name, value):
        Select(self.find('.o_form_view select[name=%s]' % name)).select_by_value('"%s"' % value)
        self.idle()

    def many2one(self, name, text):
        field = self.find('.o_form_view div[name=%s] input' % name)
        field.clear()
        field.send_keys(text)
        item = self.wait.until(EC.element_to_be_clickable(
            (By.XPATH, '//ul[contains(@class, "ui-autocomplete")]//a[contains(., "%s")]' % text)))
        item.click()
        self.idle()

    def save(self):
        self.click('.o_form_button_save')
        self.find('.o_form_button_edit')
        self.idle()

    def menu(self, xmlid):
        """Click a menu (top bar or side bar) by its XML id, as a user picks it."""
        self.click('a[data-menu-xmlid="%s"]' % xmlid)
        self.idle()

    def list_rows(self):
        """The rows of the list view on screen, once loaded."""
        self.find('.o_list_view')
        self.idle()
        return self.driver.find_elements(By.CSS_SELECTOR, '.o_list_view tr.o_data_row')

    def row(self, text):
        """The list row containing ``text`` (looked up again at each call: lists re-render)."""
        return self.find_xpath('//table[contains(@class, "o_list_view")]//tr[contains(@class, "o_data_row")]'
                               '[td[contains(., "%s")]]' % text)

    def row_cells(self, text):
        return [cell.text.strip() for cell in self.row(text).find_elements(By.TAG_NAME, 'td')]

    def find_xpath(self, xpath):
        return self.wait.until(EC.visibility_of_element_located((By.XPATH, xpath)))

    def button(self, text):
        """Click the visible button labelled ``text``."""
        self.click('//button[normalize-space()="%s"]' % text, by=By.XPATH)
        self.idle()
